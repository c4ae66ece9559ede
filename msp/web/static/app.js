// The console's small behaviours; every page works without them.
// Copy buttons: <button data-copy="#id-of-element">, confirmations: <form data-confirm="...">.
(function () {
  "use strict";

  function copyText(button) {
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(target.textContent.trim()).then(function () {
      var label = button.innerHTML;
      button.textContent = "Copied";
      setTimeout(function () { button.innerHTML = label; }, 1500);
    }, function () { /* the text stays selectable by hand */ });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (button) { event.preventDefault(); copyText(button); }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  // Copy buttons are hidden until script runs (without it they would do nothing).
  document.documentElement.classList.add("js");
})();
