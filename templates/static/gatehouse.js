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

/*
 * Passkeys (WebAuthn), the same file: progressive enhancement only. Served from
 * this origin (/static), no library, no build step. Without this script (or
 * without WebAuthn in the browser) the passkey buttons stay hidden and every
 * page works with the password (and an authenticator app).
 *
 * A passkey form carries data-passkey-signin, data-passkey-register or
 * data-passkey-login: the URL that answers (POST, with the form's CSRF token)
 * the options for navigator.credentials as JSON and keeps the ceremony's
 * sealed state in a cookie. The authenticator's answer goes into the form's
 * "credential" field and the form is sent as usual, so the server answers with
 * a page: the next step, or what went wrong. A cancelled ceremony sends the
 * form with an empty credential, and the page says so. Words shown come from
 * the server, never from this file.
 */
(function () {
  "use strict";

  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBytes(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toText(buf) {
    if (!buf) {
      return null;
    }
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type, id: toBytes(c.id) };
      if (c.transports) {
        d.transports = c.transports;
      }
      return d;
    });
  }

  // creationOptions and requestOptions turn the server's JSON (WebAuthn's
  // …OptionsJSON) into what navigator.credentials takes.
  function creationOptions(o) {
    var pk = Object.assign({}, o);
    pk.challenge = toBytes(o.challenge);
    pk.user = Object.assign({}, o.user, { id: toBytes(o.user.id) });
    pk.excludeCredentials = descriptors(o.excludeCredentials);
    return pk;
  }

  function requestOptions(o) {
    var pk = Object.assign({}, o);
    pk.challenge = toBytes(o.challenge);
    pk.allowCredentials = descriptors(o.allowCredentials);
    return pk;
  }

  // answer is the credential as WebAuthn's RegistrationResponseJSON or
  // AuthenticationResponseJSON.
  function answer(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      out.response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify(out);
  }

  function fetchOptions(form, url) {
    var token = form.querySelector("input[name='csrf_token']");
    var body = new URLSearchParams();
    if (token) {
      body.set("csrf_token", token.value);
    }
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": token ? token.value : "" },
      body: body
    }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) {
          if (data && data.location) {
            window.location.assign(data.location);
          }
          throw new Error("options refused: " + res.status);
        }
        return data;
      });
    });
  }

  function send(form, credential) {
    form.querySelector("input[name='credential']").value = credential;
    form.submit();
  }

  var pending = null; // the conditional request's AbortController

  function signIn(form, conditional) {
    var url = form.getAttribute("data-passkey-signin") + (conditional ? "?conditional=1" : "");
    var abort = new AbortController();
    if (pending) {
      pending.abort();
    }
    pending = conditional ? abort : null;
    return fetchOptions(form, url).then(function (o) {
      var req = { publicKey: requestOptions(o), signal: abort.signal };
      if (conditional) {
        req.mediation = "conditional";
      }
      return navigator.credentials.get(req);
    }).then(function (cred) {
      send(form, answer(cred));
    }, function (err) {
      if (conditional || (err && err.name === "AbortError" && pending)) {
        return; // autofill not chosen, or replaced by the button
      }
      send(form, "");
    });
  }

  function setUp() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-passkey-signin]"), function (form) {
      form.hidden = false;
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        signIn(form, false);
      });
      if (PublicKeyCredential.isConditionalMediationAvailable) {
        PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
          if (ok && document.querySelector("input[autocomplete~='webauthn']")) {
            signIn(form, true);
          }
        });
      }
    });

    Array.prototype.forEach.call(document.querySelectorAll("form[data-passkey-login]"), function (form) {
      form.hidden = false;
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        fetchOptions(form, form.getAttribute("data-passkey-login")).then(function (o) {
          return navigator.credentials.get({ publicKey: requestOptions(o) });
        }).then(function (cred) {
          send(form, answer(cred));
        }, function () {
          send(form, "");
        });
      });
    });

    Array.prototype.forEach.call(document.querySelectorAll("form[data-passkey-register]"), function (form) {
      var button = form.querySelector("[data-passkey-button]");
      var fallback = form.querySelector("[data-passkey-fallback]");
      if (button) {
        button.hidden = false;
      }
      if (fallback) {
        fallback.hidden = true;
      }
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        fetchOptions(form, form.getAttribute("data-passkey-register")).then(function (o) {
          return navigator.credentials.create({ publicKey: creationOptions(o) });
        }).then(function (cred) {
          send(form, answer(cred));
        }, function () {
          send(form, "");
        });
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
