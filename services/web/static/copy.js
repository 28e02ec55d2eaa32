// royalty's only script, and an optional one: a "Copy" button beside the API key shown once
// after registration. Without JavaScript the key is still selectable and downloadable, and the
// button stays hidden.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var source = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById(button.getAttribute("aria-controls") || "");
  if (!source) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var done = function (ok) {
      if (status) {
        status.textContent = ok ? "Copied." : "Select the key and copy it yourself.";
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(function () { done(true); }, function () { done(false); });
      return;
    }
    source.select();
    done(document.execCommand && document.execCommand("copy"));
  });
});
