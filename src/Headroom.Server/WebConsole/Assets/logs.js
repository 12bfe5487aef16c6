// Follows a job's output: reads the console's pass-through of GET /v1/jobs/{id}/logs?follow=true as a stream and
// appends each chunk as it arrives. The stream ends when the job ends; the page's text link works without script.
(function () {
  var pre = document.getElementById("job-log");
  var status = document.getElementById("job-log-status");
  if (!pre || !window.fetch || !window.TextDecoder) return;

  function atBottom() { return pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24; }

  async function follow() {
    var response;
    try {
      response = await fetch(pre.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/plain" } });
    } catch (e) {
      status.textContent = "Could not load the output: " + e.message;
      return;
    }
    if (!response.ok) {
      pre.textContent = "";
      status.textContent = await response.text();
      return;
    }
    pre.textContent = "";
    status.textContent = "Following output…";
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    for (;;) {
      var part = await reader.read();
      if (part.done) break;
      var stick = atBottom();
      pre.append(decoder.decode(part.value, { stream: true }));
      if (stick) pre.scrollTop = pre.scrollHeight;
    }
    pre.append(decoder.decode());
    if (pre.textContent.length === 0) pre.textContent = "(no output)";
    pre.dataset.complete = "true";
    status.textContent = "The job has ended; this is all of its output. Reload the page for its final state.";
  }

  follow().catch(function (e) { status.textContent = "Following stopped: " + e.message; });
})();
