/*
 * Gatehouse pages: progressive enhancement only. Every page works without this
 * script; with it:
 * - focus moves to the error summary (or the notice) of a page that has one,
 *   so that a screen reader reads what went wrong first, and a link of the
 *   summary puts the cursor in its field, its label in view;
 * - password fields get their "Show" button, which switches the field between
 *   hidden and plain text (aria-pressed says which), and hides it again when
 *   the form is sent;
 * - the "Forgot your password?" link takes the e-mail address as typed.
 * Served from this origin (/static), as the Content-Security-Policy wants.
 */
(function () {
  "use strict";

  function focusFirst() {
    var target = document.getElementById("error-summary") || document.getElementById("notice");
    if (target) {
      target.focus();
    }
  }

  function summaryLinks() {
    var summary = document.getElementById("error-summary");
    if (!summary) {
      return;
    }
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var input = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!input) {
        return;
      }
      event.preventDefault();
      var label = document.querySelector("label[for='" + CSS.escape(input.id) + "']");
      (label || input).scrollIntoView();
      input.focus({ preventScroll: true });
    });
  }

  function passwordToggles() {
    var buttons = document.querySelectorAll("button[data-password-toggle]");
    Array.prototype.forEach.call(buttons, function (button) {
      var input = document.getElementById(button.getAttribute("aria-controls"));
      if (!input) {
        return;
      }
      var set = function (shown) {
        input.type = shown ? "text" : "password";
        button.setAttribute("aria-pressed", shown ? "true" : "false");
      };
      button.addEventListener("click", function () {
        set(input.type === "password");
      });
      if (input.form) {
        // Sent as a password field: browsers store it as one.
        input.form.addEventListener("submit", function () {
          set(false);
        });
      }
      button.hidden = false;
    });
  }

  function keepEmail() {
    var links = document.querySelectorAll("a[data-keep-email]");
    Array.prototype.forEach.call(links, function (link) {
      var input = document.getElementById(link.getAttribute("data-keep-email"));
      if (!input) {
        return;
      }
      var update = function () {
        var url = new URL(link.href);
        var email = input.value.trim();
        if (email) {
          url.searchParams.set("email", email);
        } else {
          url.searchParams.delete("email");
        }
        link.href = url.toString();
      };
      link.addEventListener("click", update);
      link.addEventListener("focus", update);
    });
  }

  summaryLinks();
  passwordToggles();
  keepEmail();
  focusFirst();
  // Opening at a fragment (the account page's sections) moves the focus
  // once the page has loaded: take it back unless the person moved it.
  window.addEventListener("load", function () {
    if (!document.activeElement || document.activeElement === document.body) {
      focusFirst();
    }
  });
})();
