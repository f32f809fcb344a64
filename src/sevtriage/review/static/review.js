// Keyboard shortcuts for the review desk; the pages work without them.
(function () {
  "use strict";
  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  function go(link) { if (link && link.href) { window.location.href = link.href; } }

  document.addEventListener("DOMContentLoaded", function () {
    var rows = Array.prototype.slice.call(document.querySelectorAll("#queue tr.row"));
    var selected = rows.length ? 0 : -1;
    function select(i, scroll) {
      if (!rows.length) { return; }
      selected = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach(function (r, k) { r.classList.toggle("selected", k === selected); });
      if (scroll) { rows[selected].scrollIntoView({ block: "nearest", inline: "nearest" }); }
    }
    rows.forEach(function (row, i) {
      row.addEventListener("click", function (event) {
        if (event.target.closest("a")) { return; }
        select(i, false);
        window.location.href = row.getAttribute("data-href");
      });
    });
    if (rows.length) { select(0, false); }
    // A changed filter applies at once; the Filter button is there for browsers without scripts.
    Array.prototype.forEach.call(document.querySelectorAll("form.filters select"), function (menu) {
      menu.addEventListener("change", function () { menu.form.submit(); });
    });

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
      var key = event.key;
      if (rows.length) {  // the queue
        if (key === "j" || key === "n" || key === "ArrowDown") { select(selected + 1, true); event.preventDefault(); }
        else if (key === "k" || key === "ArrowUp") { select(selected - 1, true); event.preventDefault(); }
        else if (key === "Enter" || key === "o") { window.location.href = rows[selected].getAttribute("data-href"); }
        return;
      }
      if (!document.getElementById("request-text")) { return; }  // not a request page
      // A reviewed request has no accept form: "a" does nothing there, and 1-4 unfold "Change the outcome".
      var accept = document.getElementById("accept-form");
      if (key >= "1" && key <= "4") {
        var radio = document.querySelector('#change-form input[name="severity"][value="' + key + '"]');
        var folded = document.getElementById("correct");
        if (folded) { folded.open = true; }
        if (radio) { radio.checked = true; document.querySelector('#change-form textarea').focus(); event.preventDefault(); }
      } else if (key === "a") {
        var button = accept && accept.querySelector("button");
        if (button && !button.disabled) { accept.submit(); }
      } else if (key === "n" || key === "j") {
        go(document.getElementById("next-link"));
      } else if (key === "q" || key === "u") {
        go(document.getElementById("back-link"));
      }
    });
  });
})();
