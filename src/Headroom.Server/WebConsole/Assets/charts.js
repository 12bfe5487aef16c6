// Draws every canvas with data-chart on the page (capacity, operator economics) with chart.js (vendored, see
// chart.js.LICENSE.md): data-chart holds {labels, datasets} from the server, data-type is "line" or "bar",
// data-stacked="true" stacks the bars, data-unit names the y axis. Colours read on both themes; axes take the page's
// text colours, and the charts are redrawn when the theme changes. A dataset with yAxisID "y2" (e.g. a revenue line
// over GPU-hour bars) is drawn against a second axis on the right, titled by data-unit2.
(function () {
  if (!window.Chart) return;
  var palette = ["#3b82c4", "#e07b39", "#2e9e6b", "#b35fc4", "#c9a227", "#d1495b", "#5b8e7d", "#7a7ad6"];

  function colours() {
    var style = getComputedStyle(document.documentElement);
    return { text: style.getPropertyValue("--text").trim(), grid: style.getPropertyValue("--border").trim() };
  }

  function options(canvas) {
    var c = colours();
    var stacked = canvas.dataset.stacked === "true";
    var scales = {
      x: { stacked: stacked, ticks: { color: c.text }, grid: { color: c.grid } },
      y: { stacked: stacked, beginAtZero: true, ticks: { color: c.text }, grid: { color: c.grid },
           title: { display: true, text: canvas.dataset.unit || "", color: c.text } }
    };
    if (canvas.dataset.unit2) {
      scales.y2 = { position: "right", beginAtZero: true, ticks: { color: c.text }, grid: { drawOnChartArea: false },
                    title: { display: true, text: canvas.dataset.unit2, color: c.text } };
    }
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { labels: { color: c.text } } },
      scales: scales
    };
  }

  var charts = [];
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var data = JSON.parse(canvas.dataset.chart);
    data.datasets.forEach(function (set, i) {
      var colour = set.color || palette[i % palette.length];
      set.backgroundColor = colour;
      set.borderColor = colour;
      delete set.color;
    });
    charts.push({ canvas: canvas, chart: new Chart(canvas, { type: canvas.dataset.type || "bar", data: data, options: options(canvas) }) });
  });
  new MutationObserver(function () {
    charts.forEach(function (c) { c.chart.options = options(c.canvas); c.chart.update(); });
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
})();
