/* The launch form: posts JSON to the API, then opens the island's page, where its progress shows. */
(function () {
  "use strict";
  var I = window.Island;
  var form = document.getElementById("launch-form");
  var error = document.getElementById("launch-error");
  var submit = document.getElementById("launch-submit");

  function value(id) { var el = document.getElementById(id); return el ? el.value.trim() : ""; }

  function parseEnv(text) {
    var env = {};
    text.split("\n").forEach(function (line, index) {
      if (!line.trim()) return;
      var at = line.indexOf("=");
      if (at < 1) throw new Error("env line " + (index + 1) + ": expected NAME=value");
      env[line.slice(0, at).trim()] = line.slice(at + 1);
    });
    return env;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    var payload;
    try {
      payload = { branch: value("launch-branch") || null, start_time: value("launch-start-time"),
                  memory: value("launch-memory") || null, image: value("launch-image") || null,
                  env: parseEnv(document.getElementById("launch-env").value) };
      if (value("launch-owner")) payload.owner = value("launch-owner");
      if (value("launch-lease")) payload.lease = value("launch-lease");
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      return;
    }
    var label = submit.textContent;
    submit.disabled = true;
    submit.textContent = I.t("launch.sending");
    I.api("POST", I.apiBase, payload).then(function (island) {
      window.location.assign(I.pageUrl(island.id));
    }, function (e) {
      error.textContent = e.message;
      error.hidden = false;
      submit.disabled = false;
      submit.textContent = label;
    });
  });
})();
