// Draws the usage page's stacked bar chart from the numbers the server put on the canvas (data-chart), with
// chart.js (vendored, see chart.js.LICENSE.md). Colours come from a palette that reads on both themes; axes and
// labels take the page's text colours, and the chart is redrawn when the theme changes.
(function () {
  var canvas = document.getElementById("usage-chart");
  if (!canvas || !window.Chart) return;
  var palette = ["#3b82c4", "#e07b39", "#2e9e6b", "#b35fc4", "#c9a227", "#d1495b", "#5b8e7d", "#7a7ad6"];
  var data = JSON.parse(canvas.dataset.chart);
  data.datasets.forEach(function (set, i) {
    set.backgroundColor = palette[i % palette.length];
    set.borderColor = palette[i % palette.length];
  });

  function colours() {
    var style = getComputedStyle(document.documentElement);
    return { text: style.getPropertyValue("--text").trim(), grid: style.getPropertyValue("--border").trim() };
  }

  function options() {
    var c = colours();
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { labels: { color: c.text } } },
      scales: {
        x: { stacked: true, ticks: { color: c.text }, grid: { color: c.grid } },
        y: { stacked: true, beginAtZero: true, ticks: { color: c.text }, grid: { color: c.grid },
             title: { display: true, text: canvas.dataset.unit, color: c.text } }
      }
    };
  }

  var chart = new Chart(canvas, { type: "bar", data: data, options: options() });
  new MutationObserver(function () { chart.options = options(); chart.update(); })
    .observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
})();
