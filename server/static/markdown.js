// A small Markdown renderer for model replies (Hearth's own; no dependency).
// Safe by construction: the whole input is HTML-escaped first, then only the constructs below produce tags, and
// links must be http(s). Handles what small models write: fenced code (also while still open during streaming),
// headings, lists, block quotes, rules, paragraphs, `code`, **bold**, *italic*, ~~strike~~, [links](https://...).
"use strict";

(function () {
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  // Inline constructs of one (already escaped) line or paragraph.
  function inline(text) {
    const codes = [];
    text = text.replace(/`([^`\n]+)`/g, (_, code) => {
      codes.push(code);
      return "\u0000" + (codes.length - 1) + "\u0000";
    });
    text = text
      .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g,
        (_, label, url) => `<a href="${url}" target="_blank" rel="noopener noreferrer">${label}</a>`)
      .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
      .replace(/__([^_\n]+)__/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*\s][^*\n]*?)\*(?!\*)/g, "$1<em>$2</em>")
      .replace(/(^|[^\w_])_([^_\s][^_\n]*?)_(?![\w_])/g, "$1<em>$2</em>")
      .replace(/~~([^~\n]+)~~/g, "<del>$1</del>");
    return text.replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${codes[Number(i)]}</code>`);
  }

  const FENCE = /^\s*(```|~~~)\s*([\w+-]*)\s*$/;
  const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
  const BULLET = /^\s*[-*+]\s+(.*)$/;
  const NUMBERED = /^\s*(\d{1,9})[.)]\s+(.*)$/;
  const QUOTE = /^\s*&gt;\s?(.*)$/;
  const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;

  function renderMarkdown(source) {
    const lines = escapeHtml(String(source).replace(/\r\n?/g, "\n")).split("\n");
    const out = [];
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if ((m = line.match(FENCE))) {
        const body = [];
        i += 1;
        while (i < lines.length && !FENCE.test(lines[i])) body.push(lines[i++]);
        i += 1; // the closing fence (absent while a reply is still streaming)
        const cls = m[2] ? ` class="language-${m[2]}"` : "";
        out.push(`<pre><code${cls}>${body.join("\n")}</code></pre>`);
      } else if ((m = line.match(HEADING))) {
        out.push(`<h${m[1].length}>${inline(m[2])}</h${m[1].length}>`);
        i += 1;
      } else if (RULE.test(line)) {
        out.push("<hr>");
        i += 1;
      } else if (BULLET.test(line) || NUMBERED.test(line)) {
        const ordered = !BULLET.test(line);
        const pattern = ordered ? NUMBERED : BULLET;
        const items = [];
        const start = ordered ? Number(line.match(NUMBERED)[1]) : 1;
        while (i < lines.length && pattern.test(lines[i])) {
          const mm = lines[i].match(pattern);
          items.push(`<li>${inline(ordered ? mm[2] : mm[1])}</li>`);
          i += 1;
        }
        const tag = ordered ? "ol" : "ul";
        const attr = ordered && start !== 1 ? ` start="${start}"` : "";
        out.push(`<${tag}${attr}>${items.join("")}</${tag}>`);
      } else if (QUOTE.test(line)) {
        const quoted = [];
        while (i < lines.length && QUOTE.test(lines[i])) quoted.push(lines[i++].match(QUOTE)[1]);
        out.push(`<blockquote>${inline(quoted.join("<br>"))}</blockquote>`);
      } else if (!line.trim()) {
        i += 1;
      } else {
        const para = [];
        while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !HEADING.test(lines[i]) &&
               !BULLET.test(lines[i]) && !NUMBERED.test(lines[i]) && !QUOTE.test(lines[i]) && !RULE.test(lines[i])) {
          para.push(lines[i++]);
        }
        out.push(`<p>${inline(para.join("<br>"))}</p>`);
      }
    }
    return out.join("\n");
  }

  window.renderMarkdown = renderMarkdown;
  window.escapeHtml = escapeHtml;
})();
