// Verihook dashboard: show only the fields that apply (the chosen profile's event types, the chosen auth's
// fields). Everything works without it; hidden groups are disabled so they are not submitted.
"use strict";
(function () {
  function toggle(selector, attribute, chosen) {
    document.querySelectorAll(selector).forEach(function (group) {
      var on = group.getAttribute(attribute).split(" ").indexOf(chosen) >= 0;
      group.hidden = !on;
      group.querySelectorAll("input, select, textarea").forEach(function (field) { field.disabled = !on; });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var profile = document.querySelector("[data-profile-select]");
    var auth = document.querySelector("[data-auth-select]");
    if (profile) {
      var showProfile = function () { toggle("[data-profile-group]", "data-profile-group", profile.value); };
      profile.addEventListener("change", function () {
        showProfile();
        var preferred = profile.selectedOptions[0].getAttribute("data-auth");
        if (auth && preferred && preferred !== "none") { auth.value = preferred; auth.dispatchEvent(new Event("change")); }
      });
      showProfile();
    }
    if (auth) {
      var showAuth = function () { toggle("[data-auth-group]", "data-auth-group", auth.value); };
      auth.addEventListener("change", showAuth);
      showAuth();
    }
  });
})();
