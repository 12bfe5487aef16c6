// Draws the fleet's GPU allocation heatmap (canvas[data-heatmap]) with chart.js: one horizontal bar per node, stacked
// from one cell per GPU, each cell coloured by the tier that holds it (lighter when only a fraction of it is held, grey
// when free). data-heatmap holds {nodes, gpus (count per node), cells (per node, per GPU: {tier, milli, text})} from the
// server; the legend and the table beside the chart say the same in words.
(function () {
  if (!window.Chart) return;
  var tiers = { internal: "#7a7ad6", reserved: "#2e9e6b", "on-demand": "#3b82c4", spot: "#e07b39" };

  function style() {
    var s = getComputedStyle(document.documentElement);
    return { text: s.getPropertyValue("--text").trim(), grid: s.getPropertyValue("--border").trim(), bg: s.getPropertyValue("--bg").trim() };
  }

  function colour(cell, c) {
    if (!cell || !cell.tier) return c.grid;
    return (tiers[cell.tier] || "#8a949e") + (cell.milli < 1000 ? "88" : "");
  }

  function config(canvas, map) {
    var c = style();
    var width = Math.max.apply(null, map.gpus.concat([1]));
    var datasets = [];
    for (var i = 0; i < width; i++) {
      datasets.push({
        label: "GPU " + i,
        data: map.nodes.map(function (_, k) { return i < map.gpus[k] ? 1 : null; }),
        backgroundColor: map.nodes.map(function (_, k) { return colour(map.cells[k][i], c); }),
        borderColor: c.bg, borderWidth: 2
      });
    }
    return {
      type: "bar",
      data: { labels: map.nodes, datasets: datasets },
      options: {
        indexAxis: "y", responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: {
            title: function (items) { return items[0].label; },
            label: function (ctx) { var cell = map.cells[ctx.dataIndex][ctx.datasetIndex]; return cell ? cell.text : ""; }
          } }
        },
        scales: {
          x: { stacked: true, min: 0, max: width, ticks: { stepSize: 1, color: c.text }, grid: { color: c.grid },
               title: { display: true, text: "GPUs", color: c.text } },
          y: { stacked: true, ticks: { color: c.text }, grid: { display: false } }
        }
      }
    };
  }

  var charts = [];
  document.querySelectorAll("canvas[data-heatmap]").forEach(function (canvas) {
    var map = JSON.parse(canvas.dataset.heatmap);
    // Set from here, not in the markup: the console's policy allows no inline style. About two lines of text per node.
    canvas.parentElement.style.height = Math.max(8, map.nodes.length * 2.2 + 4) + "rem";
    charts.push({ canvas: canvas, map: map, chart: new Chart(canvas, config(canvas, map)) });
  });
  new MutationObserver(function () {
    charts.forEach(function (h) { h.chart.destroy(); h.chart = new Chart(h.canvas, config(h.canvas, h.map)); });
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
})();
