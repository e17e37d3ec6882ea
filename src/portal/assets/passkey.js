/* global document, fetch, window */
// Passkeys in the secure portal: progressive enhancement over pages that work without script.
// Each element marked data-passkey (hidden by default) is shown only where the browser can do
// WebAuthn. Its button asks the portal for options (a POST with the page's CSRF token), lets the
// browser create or use a passkey through SimpleWebAuthn, and posts the answer back in the
// element's own hidden form, as an ordinary form submission.
(function () {
  'use strict';
  var webauthn = window.SimpleWebAuthnBrowser;
  if (!webauthn || !webauthn.browserSupportsWebAuthn()) return;

  document.querySelectorAll('[data-passkey]').forEach(function (box) {
    var button = box.querySelector('[data-passkey-start]');
    var form = box.querySelector('[data-passkey-form]');
    var error = box.querySelector('[data-passkey-error]');
    if (!button || !form || !error) return;
    box.hidden = false;

    function fail() {
      error.textContent = box.getAttribute('data-failed');
      error.hidden = false;
      button.disabled = false;
    }

    button.addEventListener('click', function () {
      error.hidden = true;
      button.disabled = true;
      fetch(box.getAttribute('data-options'), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ csrf: form.elements.namedItem('csrf').value }),
      })
        .then(function (response) {
          if (!response.ok) throw new Error('no options: ' + response.status);
          return response.json();
        })
        .then(function (optionsJSON) {
          return box.getAttribute('data-passkey') === 'register'
            ? webauthn.startRegistration({ optionsJSON: optionsJSON })
            : webauthn.startAuthentication({ optionsJSON: optionsJSON });
        })
        .then(function (credential) {
          form.elements.namedItem('credential').value = JSON.stringify(credential);
          form.submit();
        })
        .catch(fail);
    });
  });
})();
