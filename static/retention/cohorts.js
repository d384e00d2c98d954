// Churn rate by registration month: one line per affiliate, organic dashed.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("cohort-chart-data").textContent);
  const palette = ["#1e88e5", "#43a047", "#e53935", "#8e24aa", "#fb8c00", "#00897b", "#6d4c41"];
  new Chart(document.getElementById("chart-cohorts"), {
    type: "line",
    data: {
      labels: data.labels,
      datasets: data.series.map(function (s, i) {
        return { label: s.group + " churn %", data: s.churn, spanGaps: true,
                 borderColor: s.group === "organic" ? "#555" : palette[i % palette.length],
                 borderDash: s.group === "organic" ? [6, 4] : [] };
      }),
    },
    options: { responsive: true, maintainAspectRatio: false, animation: false,
               plugins: { title: { display: true, text: "Churn rate by registration month" } },
               scales: { y: { beginAtZero: true, max: 100, title: { display: true, text: "%" } } } },
  });
  document.body.dataset.chartsReady = "1";
})();
