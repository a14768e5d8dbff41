// kb: what JavaScript adds to the page (it works without): the "/" key focuses
// the search box, and the annex panel keeps the chosen passages in this browser
// (localStorage; each with the query it was picked from) with the annex's title,
// and downloads them through /api/export?ids=...&queries=...&title=...  All text
// goes into the page as text (textContent), never as HTML.
(function () {
  "use strict";
  var KEY = "kb-annex";
  var TITLE_KEY = "kb-annex-title";
  var CHOSEN = "Chosen passages";
  var FORMATS = ["docx", "html", "md", "csv"];
  var ANNEXES = ["docx", "html", "md"];  // the downloads that take the title and queries
  document.documentElement.classList.add("js");

  // the access token is in the cookie now: take it out of the address bar
  try {
    var url = new URL(window.location.href);
    if (url.searchParams.has("token")) {
      url.searchParams.delete("token");
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
  } catch (e) { /* an old browser: the token stays visible */ }

  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var q = document.getElementById("q");
    if (!q) return;
    ev.preventDefault();
    q.focus();
    q.select();
  });

  function load() {
    try {
      var items = JSON.parse(window.localStorage.getItem(KEY) || "[]");
      return Array.isArray(items) ? items.filter(function (x) { return x && typeof x.id === "string"; }) : [];
    } catch (e) { return []; }
  }
  function save(items) {
    try { window.localStorage.setItem(KEY, JSON.stringify(items)); } catch (e) { /* private mode */ }
  }
  function loadTitle() {
    try {
      var t = window.localStorage.getItem(TITLE_KEY);
      return typeof t === "string" ? t : "";
    } catch (e) { return ""; }
  }
  function saveTitle(t) {
    try {
      if (t) window.localStorage.setItem(TITLE_KEY, t);
      else window.localStorage.removeItem(TITLE_KEY);
    } catch (e) { /* private mode */ }
  }
  function oneLine(s) {
    return String(s || "").split(/\s+/).filter(Boolean).join(" ");
  }
  function queryOf(x) {
    return typeof x.q === "string" ? oneLine(x.q) : "";
  }
  // the title when the box is empty: the query the passages were picked from, when
  // they share one (as the server's annex), else "Chosen passages"
  function defaultTitle(items) {
    var qs = [];
    items.forEach(function (x) {
      var q = queryOf(x);
      if (q && qs.indexOf(q) < 0) qs.push(q);
    });
    return qs.length === 1 ? qs[0] : CHOSEN;
  }
  function has(items, id) {
    return items.some(function (x) { return x.id === id; });
  }
  function itemOf(el) {
    return { id: el.getAttribute("data-id"), ref: el.getAttribute("data-ref") || "",
             title: el.getAttribute("data-title") || "", citation: el.getAttribute("data-citation") || "",
             excerpt: el.getAttribute("data-excerpt") || "", q: el.getAttribute("data-query") || "" };
  }
  function exportUrl(items, fmt, title) {
    // each id pinned to its text's short ref: a passage whose text changed since it was
    // picked is refused by the server (never another text in its place)
    var url = "/api/export?ids=" + items.map(function (x) {
      return encodeURIComponent(x.ref ? x.id + "@" + x.ref : x.id);
    }).join(",");
    if (ANNEXES.indexOf(fmt) >= 0) {
      if (items.some(function (x) { return queryOf(x); })) {
        url += "&queries=" + items.map(function (x) { return encodeURIComponent(queryOf(x)); }).join(",");
      }
      title = oneLine(title);
      if (title) url += "&title=" + encodeURIComponent(title);
    }
    return url + "&format=" + fmt;
  }

  function render() {
    var items = load();
    var panel = document.getElementById("annex");
    if (!panel) return;
    var list = document.getElementById("annex-items");
    while (list.firstChild) list.removeChild(list.firstChild);
    items.forEach(function (x) {
      var li = document.createElement("li");
      li.setAttribute("data-id", x.id);
      var title = document.createElement("span");
      title.className = "annex-title";
      title.textContent = x.title || x.id;
      var cite = document.createElement("span");
      cite.className = "annex-cite";
      cite.textContent = x.citation || x.id;
      var rm = document.createElement("button");
      rm.type = "button";
      rm.className = "remove";
      rm.textContent = "Remove";
      rm.setAttribute("aria-label", "Remove " + (x.title || x.id) + " from the annex");
      rm.addEventListener("click", function () {
        save(load().filter(function (y) { return y.id !== x.id; }));
        render();
      });
      li.appendChild(title);
      li.appendChild(cite);
      if (typeof x.excerpt === "string" && x.excerpt) {
        // the passage's first words: two passages of one document differ at a glance
        var ex = document.createElement("span");
        ex.className = "annex-excerpt";
        ex.textContent = x.excerpt;
        li.appendChild(ex);
      }
      if (queryOf(x)) {
        var from = document.createElement("span");
        from.className = "annex-from";
        from.textContent = "from \u201c" + queryOf(x) + "\u201d";
        li.appendChild(from);
      }
      li.appendChild(rm);
      list.appendChild(li);
    });
    var count = document.getElementById("annex-count");
    if (count) count.textContent = items.length ? "(" + items.length + ")" : "";
    var empty = document.getElementById("annex-empty");
    if (empty) empty.hidden = items.length > 0;
    var clear = document.getElementById("annex-clear");
    if (clear) clear.hidden = items.length === 0;
    var box = document.getElementById("annex-name");
    if (box) {
      if (document.activeElement !== box) box.value = loadTitle();
      box.placeholder = defaultTitle(items);
    }
    links(items);
    Array.prototype.forEach.call(document.querySelectorAll("button.add"), function (b) {
      var host = b.closest("[data-id]");
      var added = host && has(items, host.getAttribute("data-id"));
      b.textContent = added ? "In the annex" : "Add to annex";
      b.setAttribute("aria-pressed", added ? "true" : "false");
    });
  }

  // the download links: the chosen passages, their queries and the title
  function links(items) {
    var panel = document.getElementById("annex");
    if (!panel) return;
    var title = loadTitle();
    Array.prototype.forEach.call(panel.querySelectorAll("a.download"), function (a) {
      var fmt = a.getAttribute("data-format");
      if (FORMATS.indexOf(fmt) < 0) return;
      if (items.length) {
        a.href = exportUrl(items, fmt, title);
        a.removeAttribute("aria-disabled");
      } else {
        a.href = exportUrl([], fmt, "");
        a.setAttribute("aria-disabled", "true");
      }
    });
  }

  function init() {
    var panel = document.getElementById("annex");
    // the annex page lists the passages named in its address: they join the annex
    if (panel && panel.getAttribute("data-server") === "1") {
      var items = load();
      Array.prototype.forEach.call(panel.querySelectorAll("#annex-items li[data-id]"), function (li) {
        var it = itemOf(li);
        if (!has(items, it.id)) items.push(it);
      });
      save(items);
      var given = document.getElementById("annex-name");
      if (given && oneLine(given.value)) saveTitle(oneLine(given.value));
    }
    var form = document.getElementById("annex-title-form");
    if (form) {
      // the title is kept as it is typed; the form is for the page without JavaScript
      form.hidden = false;
      form.addEventListener("submit", function (ev) { ev.preventDefault(); });
    }
    var box = document.getElementById("annex-name");
    if (box) {
      box.addEventListener("input", function () {
        saveTitle(box.value.trim() ? box.value : "");
        links(load());
      });
    }
    Array.prototype.forEach.call(document.querySelectorAll("button.add"), function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var host = b.closest("[data-id]");
        if (!host) return;
        var items = load();
        var id = host.getAttribute("data-id");
        if (has(items, id)) {
          items = items.filter(function (x) { return x.id !== id; });
        } else {
          items.push(itemOf(host));
        }
        save(items);
        render();
      });
    });
    var clear = document.getElementById("annex-clear");
    if (clear) clear.addEventListener("click", function () { save([]); saveTitle(""); render(); });
    window.addEventListener("storage", function (ev) {
      if (ev.key === KEY || ev.key === TITLE_KEY || ev.key === null) render();
    });
    render();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
