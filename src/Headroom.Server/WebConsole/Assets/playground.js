// The playground's chat: posts the form (with its antiforgery token) to /playground/chat, which calls
// POST /v1/chat/completions with stream: true and the session's key, and reads the server-sent events as they arrive
// (fetch + ReadableStream), appending each delta to the answer. A refusal is shown like the console's other errors:
// the API's message, status, code and request id.
(function () {
  var form = document.getElementById("chat-form");
  var answer = document.getElementById("chat-answer");
  var problem = document.getElementById("chat-problem");
  if (!form || !answer || !problem || !window.fetch || !window.TextDecoder) return;
  var button = form.querySelector("button[type=submit]");

  function showProblem(p) {
    problem.replaceChildren();
    var box = document.createElement("div");
    box.className = "problem";
    box.setAttribute("role", "alert");
    var first = document.createElement("p");
    var strong = document.createElement("strong");
    strong.textContent = "The API refused this.";
    first.append(strong, " " + (p.message || "The call failed."));
    var meta = document.createElement("p");
    meta.className = "meta";
    meta.append("HTTP " + p.status + (p.code ? " · " + p.code : ""));
    if (p.request_id) {
      var code = document.createElement("code");
      code.textContent = p.request_id;
      meta.append(" · request id ", code);
    }
    box.append(first, meta);
    problem.append(box);
  }

  function handle(line) {
    if (line.indexOf("data:") !== 0) return;
    var data = line.slice(5).trim();
    if (data === "[DONE]" || data === "") return;
    var chunk = JSON.parse(data);
    if (chunk.error) { showProblem({ message: chunk.error.message, status: "stream", code: chunk.error.code }); return; }
    var choice = chunk.choices && chunk.choices[0];
    if (choice && choice.delta && choice.delta.content) answer.textContent += choice.delta.content;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    answer.textContent = "";
    problem.replaceChildren();
    button.disabled = true;
    try {
      var response = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
      if (!response.ok) {
        var p;
        try { p = await response.json(); } catch (e) { p = { message: "The console answered " + response.status + ".", status: response.status }; }
        showProblem(p);
        return;
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var pending = "";
      for (;;) {
        var part = await reader.read();
        if (part.done) break;
        pending += decoder.decode(part.value, { stream: true });
        var lines = pending.split("\n");
        pending = lines.pop();
        lines.forEach(handle);
      }
      if (pending) handle(pending);
      answer.dataset.done = "true";
    } catch (e) {
      showProblem({ message: "The stream broke off: " + e.message, status: "—" });
    } finally {
      button.disabled = false;
    }
  });
})();
