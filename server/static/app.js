// Hearth's chat page: streams replies from /v1/chat/completions, renders them as Markdown and tags each with where
// it was answered (x-hearth-route, x-hearth-route-reasons), its speed and its context use. The conversation lives
// in localStorage; the API key (asked for on a 401) in sessionStorage.
"use strict";

(function () {
  const KEY_STORE = "hearth.apiKey";
  const CHAT_STORE = "hearth.conversation";
  const $ = (id) => document.getElementById(id);
  const log = $("log");
  const input = $("input");
  const server = { model: null, nCtx: null };
  let conversation = loadConversation();
  let controller = null;

  function loadConversation() {
    try {
      const saved = JSON.parse(localStorage.getItem(CHAT_STORE) || "[]");
      return Array.isArray(saved) ? saved.filter((m) => m && typeof m.content === "string") : [];
    } catch (_) {
      return [];
    }
  }

  function saveConversation() {
    localStorage.setItem(CHAT_STORE, JSON.stringify(conversation));
  }

  // -- the API key ------------------------------------------------------------------------------------------------
  function askKey(message) {
    const dialog = $("key-dialog");
    $("key-message").textContent = message;
    $("key-input").value = "";
    return new Promise((resolve) => {
      $("key-form").onsubmit = (event) => {
        event.preventDefault();
        const key = $("key-input").value.trim();
        if (!key) return;
        sessionStorage.setItem(KEY_STORE, key);
        dialog.close();
        resolve();
      };
      dialog.showModal();
      $("key-input").focus();
    });
  }

  async function api(path, init) {
    for (;;) {
      const headers = Object.assign({}, init && init.headers);
      const key = sessionStorage.getItem(KEY_STORE);
      if (key) headers.Authorization = "Bearer " + key;
      const response = await fetch(path, Object.assign({}, init, { headers }));
      if (response.status !== 401) return response;
      await askKey(key ? "That API key was refused; enter the server's API key." : "This server needs an API key.");
    }
  }

  // -- rendering --------------------------------------------------------------------------------------------------
  function bubble(role) {
    const el = document.createElement("article");
    el.className = "msg " + role;
    const body = document.createElement("div");
    body.className = "body";
    el.appendChild(body);
    log.appendChild(el);
    return el;
  }

  function setText(el, role, text) {
    const body = el.querySelector(".body");
    if (role === "assistant") body.innerHTML = window.renderMarkdown(text);
    else body.textContent = text;
  }

  function setTag(el, meta) {
    let tag = el.querySelector(".tag");
    if (!tag) {
      tag = document.createElement("div");
      tag.className = "tag";
      el.appendChild(tag);
    }
    tag.dataset.route = meta.route || "";
    tag.className = "tag route-" + (meta.route || "unknown");
    const parts = [];
    if (meta.route) parts.push(meta.reasons ? `${meta.route} (${meta.reasons.split(",").join(", ")})` : meta.route);
    if (meta.tokPerS != null) parts.push(`${meta.tokPerS.toFixed(1)} tok/s`);
    if (meta.ttftS != null) parts.push(`first token ${meta.ttftS.toFixed(2)} s`);
    if (meta.contextUsed != null && meta.nCtx) {
      parts.push(`context ${meta.contextUsed}/${meta.nCtx} (${Math.round((100 * meta.contextUsed) / meta.nCtx)}%)`);
    }
    if (meta.note) parts.push(meta.note);
    tag.textContent = parts.join(" · ");
  }

  function showError(el, message) {
    const err = document.createElement("div");
    err.className = "error";
    err.textContent = message;
    el.appendChild(err);
  }

  function render() {
    log.textContent = "";
    for (const message of conversation) {
      const el = bubble(message.role);
      setText(el, message.role, message.content);
      if (message.meta) setTag(el, message.meta);
    }
    log.scrollTop = log.scrollHeight;
  }

  // -- the server -------------------------------------------------------------------------------------------------
  async function connect() {
    for (;;) {
      try {
        const response = await fetch("/health");
        if (response.ok) {
          const health = await response.json();
          server.model = health.model;
          server.nCtx = health.n_ctx;
          $("server-info").textContent = `${health.model} · context ${health.n_ctx} tokens`;
          return;
        }
        $("server-info").textContent = "the model is loading…";
      } catch (_) {
        $("server-info").textContent = "cannot reach the server; retrying…";
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      return (body.error && (body.error.message || body.error)) || `HTTP ${response.status}`;
    } catch (_) {
      return `HTTP ${response.status}`;
    }
  }

  // Reads the server-sent events of one streamed reply, calling onChunk for each parsed JSON payload.
  async function readEvents(response, onChunk) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") return;
          onChunk(JSON.parse(data));
        }
      }
    }
  }

  async function send(text) {
    conversation.push({ role: "user", content: text });
    saveConversation();
    setText(bubble("user"), "user", text);
    const el = bubble("assistant");
    el.classList.add("streaming");
    const reply = { role: "assistant", content: "", meta: { nCtx: server.nCtx } };
    const started = performance.now();
    let firstAt = null;
    let usage = null;
    controller = new AbortController();
    setBusy(true);
    try {
      const response = await api("/v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        signal: controller.signal,
        body: JSON.stringify({
          model: server.model,
          messages: conversation.map((m) => ({ role: m.role, content: m.content })),
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      if (!response.ok) throw new Error(await errorMessage(response));
      reply.meta.route = response.headers.get("x-hearth-route");
      reply.meta.reasons = response.headers.get("x-hearth-route-reasons");
      setTag(el, reply.meta);
      await readEvents(response, (chunk) => {
        if (chunk.error) throw new Error(chunk.error.message || String(chunk.error));
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices && chunk.choices[0];
        if (choice && choice.finish_reason === "length") reply.meta.note = "cut at the token limit";
        const delta = choice && choice.delta;
        if (delta && delta.content) {
          if (firstAt === null) firstAt = performance.now();
          reply.content += delta.content;
          setText(el, "assistant", reply.content);
          log.scrollTop = log.scrollHeight;
        }
      });
      const ended = performance.now();
      if (firstAt !== null) reply.meta.ttftS = (firstAt - started) / 1000;
      if (usage) {
        reply.meta.contextUsed = usage.total_tokens;
        if (usage.completion_tokens > 1 && ended > firstAt) {
          reply.meta.tokPerS = (usage.completion_tokens - 1) / ((ended - firstAt) / 1000);
        }
      }
    } catch (error) {
      if (error.name === "AbortError") reply.meta.note = "stopped";
      else showError(el, error.message);
    } finally {
      controller = null;
      setBusy(false);
      el.classList.remove("streaming");
    }
    setText(el, "assistant", reply.content);
    setTag(el, reply.meta);
    if (reply.content) {
      conversation.push(reply);
    } else {
      conversation.pop(); // nothing came back: the question is not part of the conversation
    }
    saveConversation();
  }

  function setBusy(busy) {
    $("send").hidden = busy;
    $("stop").hidden = !busy;
    input.disabled = busy;
    if (!busy) input.focus();
  }

  // -- wiring -----------------------------------------------------------------------------------------------------
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || controller || !server.model) return;
    input.value = "";
    send(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => controller && controller.abort());
  $("new-chat").addEventListener("click", () => {
    if (controller) controller.abort();
    conversation = [];
    saveConversation();
    render();
    input.focus();
  });

  render();
  connect();
})();
