"""Embeddings on the live server: `/v1/embeddings` driven by the official `openai` SDK, `/api/embed` and
`/api/embeddings` by the official `ollama` client; meaning (related sentences closer), concurrency with a chat
stream, and bad requests (400 with a sentence, never a 500)."""

from __future__ import annotations

import base64
import threading

import httpx
import numpy as np
import openai
import pytest
from fastapi.testclient import TestClient

from assistant.assistant import Assistant
from assistant.settings import load_settings
from server import create_app

ollama = pytest.importorskip("ollama", reason="the ollama client is not installed (pip install ollama)")

N_EMBD = 576  # SmolLM2-135M's hidden size
# (sentence, a paraphrase, an unrelated sentence): the 135M model puts every paraphrase closer (cosine) than the
# unrelated one, by 0.06 to 0.23 (measured on this model).
TRIPLES = [
    ("The cat sat on the mat.", "A kitten was sitting on the rug.", "The stock market fell sharply today."),
    ("How do I bake bread?", "What is a good recipe for baking a loaf of bread?", "The train to Paris leaves at noon."),
    ("Turn on the kitchen lights.", "Switch the lights on in the kitchen.", "What is the capital of Japan?"),
    ("The doctor examined the patient.", "A physician checked the sick man.", "The football match ended in a draw."),
    ("Set an alarm for 7 am.", "Wake me up at seven in the morning.", "Photosynthesis converts light into energy."),
    ("My car will not start.", "The engine of my vehicle fails to turn on.", "She plays the violin beautifully."),
]
LONG = " ".join(f"Sentence number {i} talks about the weather in a different town." for i in range(90))


@pytest.fixture
def oc(live):
    return ollama.Client(host=live.url, headers=live.headers(), timeout=120)


def _rows(response) -> np.ndarray:
    rows = [d.embedding for d in sorted(response.data, key=lambda d: d.index)]
    if rows and isinstance(rows[0], str):  # asked for base64: little-endian float32 bytes
        return np.array([np.frombuffer(base64.b64decode(r), dtype="<f4") for r in rows])
    return np.array(rows, dtype=np.float32)


def test_openai_sdk_float_and_base64(client) -> None:
    texts = ["Hello there.", "The weather is nice today."]
    floats = client.embeddings.create(model="local", input=texts, encoding_format="float")
    assert floats.object == "list" and floats.model == "local" and [d.index for d in floats.data] == [0, 1]
    vectors = _rows(floats)
    assert vectors.shape == (2, N_EMBD)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert floats.usage.prompt_tokens == floats.usage.total_tokens >= 8

    b64 = client.embeddings.create(model="local", input=texts, encoding_format="base64")
    assert isinstance(b64.data[0].embedding, str)  # asked for explicitly, the SDK hands the string over as sent
    np.testing.assert_array_equal(_rows(b64), vectors)  # the same float32 values, bit for bit
    # Without encoding_format the SDK asks for base64 itself and decodes it into floats.
    default = client.embeddings.create(model="smollm2-135m-instruct", input=texts[0])
    assert len(default.data) == 1 and isinstance(default.data[0].embedding, list)
    np.testing.assert_array_equal(_rows(default)[0], vectors[0])


def test_token_arrays_embed_like_their_text(client, engine) -> None:
    texts = ["Turn on the kitchen lights.", "Good night."]
    tokens = [engine.prompt_tokens(t) for t in texts]  # the same model file, so the server's tokens
    by_text = _rows(client.embeddings.create(model="local", input=texts, encoding_format="float"))
    one = client.embeddings.create(model="local", input=tokens[0], encoding_format="float")
    several = client.embeddings.create(model="local", input=tokens, encoding_format="float")
    assert one.usage.prompt_tokens == len(tokens[0])
    np.testing.assert_allclose(_rows(one)[0], by_text[0], atol=1e-5)
    np.testing.assert_allclose(_rows(several), by_text, atol=1e-5)


def test_related_sentences_are_closer_than_unrelated_ones(client) -> None:
    texts = [s for triple in TRIPLES for s in triple]
    v = _rows(client.embeddings.create(model="local", input=texts, encoding_format="float"))
    for i, (first, _, _) in enumerate(TRIPLES):
        a, b, c = v[3 * i: 3 * i + 3]
        related, unrelated = float(a @ b), max(float(a @ c), float(b @ c))
        assert related > unrelated, f"{first!r}: paraphrase {related:.3f} <= unrelated {unrelated:.3f}"


def test_ollama_embed_and_the_older_embeddings(oc, client) -> None:
    texts = ["Hello there.", "The weather is nice today."]
    out = oc.embed(model="local:latest", input=texts, keep_alive="5m", options={"num_ctx": 512})
    assert out.model == "local:latest" and len(out.embeddings) == 2 and len(out.embeddings[0]) == N_EMBD
    assert out.total_duration > 0 and out.load_duration == 0
    reference = client.embeddings.create(model="local", input=texts, encoding_format="float")
    assert out.prompt_eval_count == reference.usage.prompt_tokens
    np.testing.assert_allclose(np.array(out.embeddings), _rows(reference), atol=1e-6)
    single = oc.embed(model="local", input=texts[0])
    np.testing.assert_allclose(single.embeddings[0], out.embeddings[0], atol=1e-6)

    old = np.array(oc.embeddings(model="local", prompt=texts[0]).embedding)
    assert old.shape == (N_EMBD,) and abs(np.linalg.norm(old) - 1.0) > 0.1  # unnormalised, as Ollama's old endpoint
    np.testing.assert_allclose(old / np.linalg.norm(old), out.embeddings[0], atol=1e-5)


def test_ollama_empty_input_only_loads_the_model(oc, live) -> None:
    assert oc.embed(model="local", input="").embeddings == []
    assert oc.embed(model="local", input=[]).embeddings == []
    assert oc.embeddings(model="local", prompt="").embedding == []


def test_long_inputs_truncated_only_when_asked_and_said_so(oc, live, client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="local", input=["short", LONG])
    error = caught.value.body
    assert error["code"] == "context_length_exceeded" and error["param"] == "input[1]"
    assert "at most 1024" in error["message"]

    with pytest.raises(ollama.ResponseError) as refused:
        oc.embed(model="local", input=LONG, truncate=False)
    assert refused.value.status_code == 400 and "1024" in refused.value.error
    with pytest.raises(ollama.ResponseError) as old:
        oc.embeddings(model="local", prompt=LONG)
    assert old.value.status_code == 400

    r = httpx.post(live.url + "/api/embed", headers=live.headers(), timeout=120,
                   json={"model": "local", "input": ["short", LONG]})  # truncate: Ollama's default, true
    assert r.status_code == 200, r.text
    body = r.json()
    cut = int(r.headers["x-hearth-truncated-tokens"])
    assert cut > 0 and len(body["embeddings"]) == 2
    short = client.embeddings.create(model="local", input="short").usage.prompt_tokens
    assert body["prompt_eval_count"] == 1024 + short


def test_embeddings_while_a_chat_streams(live, client) -> None:
    streamed: list[str] = []
    started = threading.Event()

    def chat() -> None:
        with live.client() as other:
            stream = other.chat.completions.create(
                model="local", messages=[{"role": "user", "content": "Count from one to fifty."}], stream=True,
                max_tokens=64, temperature=0)
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    streamed.append(chunk.choices[0].delta.content)
                    started.set()
        started.set()

    thread = threading.Thread(target=chat)
    thread.start()
    assert started.wait(60), "the chat stream did not start"
    out = client.embeddings.create(model="local", input=[t[0] for t in TRIPLES], encoding_format="float")
    thread.join(120)
    assert not thread.is_alive() and len(streamed) > 1
    assert len(out.data) == len(TRIPLES)


def test_a_client_that_leaves_stops_its_embedding(live, client) -> None:
    # About 13,000 tokens (the live server's 64 KiB body limit): far more than can be embedded before the client,
    # which waits 0.3 s for an answer, goes away.
    texts = [f"Paragraph {i}: " + "the quick brown fox jumps over the lazy dog " * 6 for i in range(220)]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(live.base_url + "/embeddings", headers=live.headers(), json={"model": "local", "input": texts},
                   timeout=httpx.Timeout(30, read=0.3))
    live.wait_metric('hearth_http_requests_total{route="/v1/embeddings",status="499"}', lambda v: v >= 1, 60)
    assert len(client.embeddings.create(model="local", input="still here").data) == 1


@pytest.mark.parametrize(("body", "words"), [
    ({"input": []}, "must not be an empty list"),
    ({"input": ""}, "must not be an empty string"),
    ({"input": ["fine", ""]}, "must not hold empty strings (input[1] is one)"),
    ({"input": [[]]}, "must not hold empty token lists (input[0] is one)"),
    ({"input": ["a", 1]}, "mixing kinds"),
    ({"input": {"text": "a"}}, "got an object"),
    ({"input": [1.5, 2]}, "mixing kinds"),
    ({"input": [True]}, "mixing kinds"),
    ({"input": None}, "got null"),
    ({"input": [[1, 99999]]}, "outside the vocabulary"),
    ({"input": "a", "dimensions": 64}, "576 dimensions"),
    ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
    ({"input": "a", "truncate": True}, "unrecognized request parameter 'truncate'"),
    ({"input": ["a"] * 257}, "at most 256"),
])
def test_bad_requests_are_400_with_a_sentence(live, body, words) -> None:
    r = httpx.post(live.base_url + "/embeddings", headers=live.headers(), timeout=60, json={"model": "local", **body})
    assert r.status_code == 400, r.text
    assert words in r.json()["error"]["message"]


def test_ollama_bad_requests(live) -> None:
    post = lambda body: httpx.post(live.url + "/api/embed", headers=live.headers(), timeout=60,
                                   json={"model": "local", **body})
    r = post({"input": [1, 2]})
    assert r.status_code == 400 and "invalid input type" in r.json()["error"]
    r = post({"input": "a", "dimensions": 3})
    assert r.status_code == 400 and "576" in r.json()["error"]
    r = httpx.post(live.url + "/api/embed", headers=live.headers(), timeout=60, json={"model": "nope", "input": "a"})
    assert r.status_code == 404 and r.json() == {"error": "model 'nope' not found; see /api/tags"}


def test_unknown_model_and_missing_key(live) -> None:
    r = httpx.post(live.base_url + "/embeddings", headers=live.headers(), timeout=60,
                   json={"model": "nope", "input": "a"})
    assert r.status_code == 404 and r.json()["error"]["param"] == "model"
    r = httpx.post(live.base_url + "/embeddings", timeout=60, json={"model": "local", "input": "a"})
    assert r.status_code == 401


def test_the_token_cap_and_the_cloud_names(engine, tmp_path) -> None:
    settings = load_settings(model="ignored", home=tmp_path, server={"embed_max_tokens": 5},
                             cloud={"base_url": "http://127.0.0.1:9/v1", "model": "big-cloud"})
    with TestClient(create_app(settings, Assistant(engine, settings))) as http:
        r = http.post("/v1/embeddings", json={"model": "local", "input": ["one two three", "four five six"]})
        assert r.status_code == 400 and "at most 5" in r.json()["error"]["message"]
        r = http.post("/v1/embeddings", json={"model": "big-cloud", "input": "a"})
        assert r.status_code == 400 and "local model only" in r.json()["error"]["message"]
        r = http.post("/api/embed", json={"model": "cloud", "input": "a"})
        assert r.status_code == 400 and "local model only" in r.json()["error"]


def test_busy_is_429_and_once_the_embedder_is_closed_503_not_500(engine, tmp_path) -> None:
    settings = load_settings(model="ignored", home=tmp_path)
    assistant = Assistant(engine, settings)
    with TestClient(create_app(settings, assistant)) as http:
        assert http.post("/v1/embeddings", json={"model": "local", "input": "a"}).status_code == 200
        assistant.embedder.max_waiting = 0  # as if the queue of embedding requests were full
        r = http.post("/api/embed", json={"model": "local", "input": "a"})
        assert r.status_code == 429 and r.headers["retry-after"] == "1" and "retry later" in r.json()["error"]
        assistant.embedder.max_waiting = 64
        assistant.close()  # what shutdown does first
        r = http.post("/v1/embeddings", json={"model": "local", "input": "a"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "shutting_down"
