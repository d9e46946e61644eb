// The SED form's check as the user types (src/api/pages/write.rs): after a pause
// in typing, the form is posted to its check address, which validates it against
// the SED's schema (the same XSD the submission is validated with) and saves the
// draft; each issue is shown next to its field. Only fields the user has touched
// show their issues until the form is sent once. Without this script the form
// still works: the server checks it when it is sent or saved.
(function () {
  "use strict";
  var form = document.getElementById("sed-form");
  if (!form || !window.fetch) {
    return;
  }
  var status = document.getElementById("check-status");
  var touched = {};
  var timer = null;
  var seq = 0;
  var showAll = document.getElementById("issues") !== null;

  function clear() {
    var shown = form.querySelectorAll("[data-issue-for]");
    for (var i = 0; i < shown.length; i++) {
      shown[i].textContent = "";
    }
    var marked = form.querySelectorAll("[aria-invalid='true']");
    for (var j = 0; j < marked.length; j++) {
      marked[j].setAttribute("aria-invalid", "false");
    }
  }

  function show(issues) {
    clear();
    var shown = 0;
    for (var i = 0; i < issues.length; i++) {
      var issue = issues[i];
      if (!showAll && !touched[issue.field]) {
        continue;
      }
      var slot = document.getElementById("e" + issue.id.substring(1));
      if (!slot) {
        continue;
      }
      slot.textContent = slot.textContent ? slot.textContent + " " + issue.detail : issue.detail;
      var input = document.getElementById(issue.id);
      if (input) {
        input.setAttribute("aria-invalid", "true");
      }
      shown++;
    }
    return shown;
  }

  function check() {
    var mine = ++seq;
    var body = new URLSearchParams(new FormData(form));
    fetch(form.getAttribute("data-check"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (answer) {
        if (!answer || mine !== seq) {
          return;
        }
        show(answer.issues || []);
        if (status && answer.saved) {
          status.textContent = answer.saved;
        }
        form.setAttribute("data-checked", String(mine));
        timer = null;
      })
      .catch(function () {
        /* offline or refused: the server checks when the form is sent */
      });
  }

  function changed(event) {
    var name = event.target && event.target.name;
    if (name && name.indexOf("v:") === 0) {
      touched[name.substring(2)] = true;
    }
    if (timer) {
      clearTimeout(timer);
    }
    timer = setTimeout(check, 400);
  }

  // Leaving with a check still waiting: the draft is saved on the way out.
  window.addEventListener("pagehide", function () {
    if (timer && navigator.sendBeacon) {
      clearTimeout(timer);
      timer = null;
      navigator.sendBeacon(form.getAttribute("data-check"), new URLSearchParams(new FormData(form)));
    }
  });
  form.addEventListener("submit", function () {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
  });
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  var summary = document.getElementById("issues");
  if (summary) {
    summary.focus();
  }
})();
