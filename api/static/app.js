// Sortable tables (progressive enhancement: the page works without it). Our own code, no dependencies.
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.sortable")) {
    const body = table.tBodies[0];
    for (const button of table.querySelectorAll("th button[data-sort]")) {
      button.addEventListener("click", () => {
        const col = Number(button.dataset.sort);
        const th = button.closest("th");
        const asc = th.getAttribute("aria-sort") !== "ascending";
        for (const other of table.querySelectorAll("th")) other.removeAttribute("aria-sort");
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        const rows = Array.from(body.rows);
        const key = (r) => r.cells[col].textContent.trim();
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          const nx = Number(x), ny = Number(y);
          const c = (x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return asc ? c : -c;
        });
        for (const r of rows) body.appendChild(r);
      });
    }
  }
});
