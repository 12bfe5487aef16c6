// Theme: the system's (prefers-color-scheme) until the user picks one with the toggle; the pick is kept in this
// browser. Runs in <head> so the page is painted in the right theme from the start.
(function () {
  var key = "headroom-theme";
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem(key); } catch (e) { /* storage blocked: follow the system */ }
  if (saved === "dark" || saved === "light") root.dataset.theme = saved;

  function effective() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    function show() {
      var dark = effective() === "dark";
      button.setAttribute("aria-pressed", dark ? "true" : "false");
      button.textContent = "Dark theme";
    }
    button.hidden = false;
    show();
    button.addEventListener("click", function () {
      var next = effective() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try { localStorage.setItem(key, next); } catch (e) { /* not kept: fine for this page */ }
      show();
    });
  });
})();
