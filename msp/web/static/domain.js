// Domain page helpers; the page works without them. Copy buttons appear only where the
// clipboard is available; forms with data-confirm ask before a destructive action.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (navigator.clipboard) {
    document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.dataset.copy);
        navigator.clipboard.writeText(source ? source.textContent : "").then(function () {
          var label = button.textContent;
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = label; }, 1500);
        });
      });
    });
  }
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
});
