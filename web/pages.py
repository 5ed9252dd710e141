"""HTML pages. The scripts in static/ make them live; every action also works as a plain form post
(CSRF-checked), so the pages stay usable where scripts are blocked."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from island_ssh.core.errors import InvalidInput, IslandError
from island_ssh.core.names import ISLAND_STATES, PROGRESS_STATES
from island_ssh.service.islands import LaunchRequest

from island_ssh_web import browser_policy, pages_clock, redirects
from island_ssh_web.api import acting_as
from island_ssh_web.auth import Unauthorized
from island_ssh_web.context import ctx
from island_ssh_web.errors import status_of
from island_ssh_web.i18n import LANG_COOKIE, LANGUAGES, choose_language, labels, translate
from island_ssh_web.serialize import vocabulary_json

CSP = browser_policy.PAGE_CSP


def language() -> str:
    return choose_language(request.args.get("lang"), request.cookies.get(LANG_COOKIE),
                           request.headers.get("Accept-Language"))


def template_globals() -> dict:
    c = ctx()
    lang = language()
    try:
        who = c.auth.identify()
    except Unauthorized:
        who = None
    return {
        "lang": lang, "t": lambda key, **values: translate(lang, key, **values), "i18n": labels(lang),
        "who": who, "csrf_token": c.auth.csrf_token, "standalone": c.auth.standalone,
        "branches": list(c.settings.islands.branches), "default_branch": c.settings.islands.default_branch,
        "default_memory": c.settings.islands.memory_request, "all_states": ISLAND_STATES,
        "default_lease": c.settings.islands.lease_default, "lease_max": c.settings.islands.lease_max,
        "progress_states": PROGRESS_STATES, "vocabulary": vocabulary_json(),
        "other_lang": "zh" if lang == "en" else "en",
    }


def security_headers(response):
    browser_policy.apply(response)  # CSP with frame-ancestors 'none', X-Frame-Options, nosniff
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


def page_user():
    """The user, or None when the caller must be sent to the login page first."""
    c = ctx()
    who = c.auth.identify()
    if who is None and not c.auth.standalone:
        raise Unauthorized("log in to the table-import app first")
    return who


def to_login():
    return redirect(url_for(".login", next=request.full_path.rstrip("?")))


def safe_next(target: str | None) -> str:
    """Only a path of this app (island_ssh_web.redirects says what a browser would make of the rest)."""
    index = url_for(".index")
    return redirects.safe_next(target, root=index, fallback=index)


# -- pages -------------------------------------------------------------------------------------
def index():
    if page_user() is None:
        return to_login()
    return render_template("island_index.html")


def launch_form():
    if page_user() is None:
        return to_login()
    return render_template("island_launch.html", form={}, error=None)


def launch_submit():
    c = ctx()
    who = c.auth.require()  # checks the CSRF field too
    form = {k: request.form.get(k, "") for k in ("branch", "start_time", "memory", "image", "env", "owner", "lease")}
    try:
        env = parse_env_lines(form["env"])
        owner = form["owner"].strip() or who.name
        if owner != who.name and not who.admin:
            raise InvalidInput("owner: only admins may launch islands for someone else")
        row = c.service.launch(LaunchRequest(owner=owner, branch=form["branch"] or None,
                                             start_time=form["start_time"], memory=form["memory"] or None,
                                             image=form["image"] or None, env=env,
                                             is_admin=who.admin,
                                             # launching for oneself: one's id; an admin naming
                                             # someone else: that name as the id (as the CLI does)
                                             owner_id=who.id if owner == who.name else owner,
                                             lease=form["lease"][:65] or None, by=who.user))
    except IslandError as exc:
        return render_template("island_launch.html", form=form, error=exc.message), status_of(exc)
    return redirect(url_for(".island_page", island_id=row.island_id))


def parse_env_lines(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if "=" not in line:
            raise InvalidInput(f"env line {number}: expected NAME=value")
        name, value = line.split("=", 1)
        env[name.strip()] = value
    return env


def island_page(island_id: int):
    if page_user() is None:
        return to_login()
    row = ctx().service.get(island_id)
    return render_template("island_detail.html", island_id=row.island_id, owner=row.owner,
                           **pages_clock.page_clock(row.island_id))


def _form_action(island_id: int, act):
    c = ctx()
    who = c.auth.require()
    try:
        act(c.service, who)
        flash(translate(language(), "action.done"), "ok")
    except IslandError as exc:
        flash(exc.message, "error")
    return redirect(url_for(".island_page", island_id=island_id))


def form_delete(island_id: int):
    c = ctx()
    who = c.auth.require()
    try:
        c.service.delete(island_id, user=acting_as(who))
    except IslandError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".island_page", island_id=island_id))
    return redirect(url_for(".index"))


def form_restart(island_id: int):
    return _form_action(island_id, lambda service, who: service.restart(island_id, user=acting_as(who)))


# -- standalone login ----------------------------------------------------------------------------
def login():
    c = ctx()
    error = None
    status = 200
    if request.method == "POST":
        c.auth.check_csrf()
        user = c.auth.login(request.form.get("token", ""))
        if user is not None:
            return redirect(safe_next(request.args.get("next")))
        error, status = "login.failed", 401
    return render_template("island_login.html", error=error, has_users=c.auth.has_users,
                           next=request.args.get("next", "")), status


def logout():
    c = ctx()
    c.auth.check_csrf()
    c.auth.logout()
    return redirect(url_for(".login"))


def routes(standalone: bool) -> list:
    table = [
        ("/", "index", index, ["GET"]),
        ("/launch", "launch_form", launch_form, ["GET"]),
        ("/launch", "launch_submit", launch_submit, ["POST"]),
        ("/islands/<int:island_id>", "island_page", island_page, ["GET"]),
        ("/islands/<int:island_id>/delete", "form_delete", form_delete, ["POST"]),
        ("/islands/<int:island_id>/restart", "form_restart", form_restart, ["POST"]),
        # the clock's forms (/islands/<id>/clock ...): pages_clock.ROUTES
    ]
    if standalone:
        table += [("/login", "login", login, ["GET", "POST"]), ("/logout", "logout", logout, ["POST"])]
    return table
