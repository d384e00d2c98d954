// Per-hour charts of the integration-health dashboard (Chart.js, served from static/vendor).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("health-chart-data").textContent);
  const common = {
    responsive: true, maintainAspectRatio: false, animation: false,
    interaction: { mode: "index", intersect: false },
    scales: { x: { ticks: { maxTicksLimit: 12 } } },
  };
  function chart(id, type, datasets, title, yTitle) {
    const el = document.getElementById(id);
    if (!el) { return; }
    new Chart(el, {
      type: type,
      data: { labels: data.labels, datasets: datasets },
      options: Object.assign({}, common, {
        plugins: { title: { display: true, text: title } },
        scales: Object.assign({}, common.scales, { y: { beginAtZero: true, title: { display: true, text: yTitle } } }),
      }),
    });
  }
  chart("chart-inbound", "bar", [
    { label: "processed", data: data.processed, backgroundColor: "#4caf50", stack: "s" },
    { label: "failed / dead", data: data.failed, backgroundColor: "#e53935", stack: "s" },
    { label: "invalid", data: data.invalid, backgroundColor: "#ff9800", stack: "s" },
    { label: "received", data: data.received, type: "line", borderColor: "#1e88e5", pointRadius: 0 },
  ], "Inbound events per hour", "events");
  chart("chart-latency", "line", [
    { label: "p95 (ms)", data: data.p95, borderColor: "#8e24aa", spanGaps: true, pointRadius: 1 },
  ], "Receipt-to-processed latency p95", "ms");
  chart("chart-misses", "line", [
    { label: "miss rate (%)", data: data.miss_rate, borderColor: "#f4511e", spanGaps: true, pointRadius: 1 },
  ], "Identifier resolution miss rate", "%");
  chart("chart-outbound", "bar", [
    { label: "deliveries", data: data.deliveries, backgroundColor: "#90caf9" },
    { label: "succeeded", data: data.delivered, backgroundColor: "#43a047" },
  ], "Outbound deliveries per hour", "deliveries");
  document.body.dataset.chartsReady = "1";
})();
