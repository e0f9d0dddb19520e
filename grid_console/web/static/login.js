// The login page: POST /api/login sets the session cookie and the CSRF cookie, then the page
// goes where the user was sent from, or to the page for the user's role.
"use strict";

const CENTRE_ROLES = ["admin", "operator"];

function nextPage(role) {
  const next = new URLSearchParams(location.search).get("next") || "";
  // Only a page of this console, never another site ("//x", "/\\x" and "https:" lead away).
  if (next.startsWith("/")) {
    const target = new URL(next, location.origin);
    if (target.origin === location.origin && !target.pathname.startsWith("/login")) {
      return target.pathname + target.search;
    }
  }
  return CENTRE_ROLES.includes(role) || role === "grid_head" || role === "grid_leader"
    ? "/inbox" : "/patrol";
}

async function submit(event) {
  event.preventDefault();
  const error = document.getElementById("error");
  const button = document.getElementById("submit");
  error.textContent = "";
  button.disabled = true;
  button.textContent = t("login.busy");
  try {
    const reply = await api("POST", "/api/login", {
      username: document.getElementById("username").value.trim(),
      password: document.getElementById("password").value,
    });
    location.href = nextPage(reply.role);
  } catch (e) {
    // A wrong password is one sentence, without the server's English.
    error.textContent = e instanceof ApiError && e.status === 401 ? t("err.401")
      : e instanceof ApiError && e.status === 422 ? t("err.422") : errorText(e);
  } finally {
    button.disabled = false;
    button.textContent = t("login.submit");
  }
}

applyI18n();
setupLanguage();
document.getElementById("form").addEventListener("submit", submit);
