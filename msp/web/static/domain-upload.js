// Report upload: drag and drop onto the form and a progress bar. Without this file the form
// posts the chosen files the ordinary way.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) { return; }
  var input = document.getElementById("upload-files");
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  form.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
  ["dragenter", "dragover"].forEach(function (name) {
    form.addEventListener(name, function (event) { event.preventDefault(); form.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    form.addEventListener(name, function () { form.classList.remove("over"); });
  });
  form.addEventListener("drop", function (event) {
    event.preventDefault();
    input.files = event.dataTransfer.files;
    status.textContent = input.files.length + " file(s) chosen.";
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-Upload", "script");
    request.upload.addEventListener("progress", function (progress) {
      if (progress.lengthComputable) {
        bar.value = Math.round(100 * progress.loaded / progress.total);
        status.textContent = "Uploading: " + bar.value + "%";
      }
    });
    request.addEventListener("load", function () {
      var next = null;
      try { next = JSON.parse(request.responseText).next; } catch (ignored) { next = null; }
      if (next) { window.location.assign(next); return; }
      status.textContent = "The upload was refused (" + request.status + "); reload the page and try again.";
    });
    request.addEventListener("error", function () {
      status.textContent = "The upload failed; check the connection and try again.";
    });
    bar.hidden = false;
    request.send(new FormData(form));
  });
});
