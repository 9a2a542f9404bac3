// Live scan feed: our own vanilla JS. The page works without it (reload to
// refresh); with it, new scans stream in over Server-Sent Events.
(function () {
  "use strict";
  var table = document.getElementById("feed");
  if (!table || !window.EventSource) return;
  var body = table.tBodies[0];
  var labels = document.getElementById("row-labels").dataset;
  var live = document.getElementById("live");
  var after = table.dataset.after || "0";
  var MAX_ROWS = 200;

  function cell(tr, text, code) {
    var td = document.createElement("td");
    if (code) {
      var c = document.createElement("code");
      c.textContent = text;
      td.appendChild(c);
    } else {
      td.textContent = text;
    }
    tr.appendChild(td);
    return td;
  }

  // Business and site names beside their codes, as the page's own rows show
  // them (macros.html: place); names are set as text, never as HTML.
  function small(parent, text) {
    var s = document.createElement("small");
    s.className = "muted";
    s.textContent = text;
    parent.appendChild(document.createTextNode(" "));
    parent.appendChild(s);
  }

  function place(tr, ev) {
    var td = cell(tr, ev.business ? "" : labels.none);
    if (!ev.business) return;
    var a = document.createElement("a");
    a.href = "/ui/businesses/" + encodeURIComponent(ev.business);
    a.textContent = ev.business_name || ev.business;
    td.appendChild(a);
    small(td, ev.business);
    if (ev.site_name) {
      td.appendChild(document.createTextNode(" / " + ev.site_name));
      small(td, "#" + ev.site);
    }
  }

  function addRow(ev) {
    if (body.querySelector('tr[data-id="' + ev.id + '"]')) return;
    var tr = document.createElement("tr");
    tr.dataset.id = ev.id;
    tr.className = "fresh";
    cell(tr, ev.time);
    place(tr, ev);
    cell(tr, ev.device);
    cell(tr, ev.hash || "—", true);
    var v = cell(tr, "");
    var badge = document.createElement("span");
    badge.className = "badge " + (ev.verdict ? "b-online" : "b-offline");
    badge.textContent = ev.verdict ? labels.accepted : labels.denied;
    v.appendChild(badge);
    var r = cell(tr, "", false);
    var code = document.createElement("code");
    code.textContent = ev.reason;
    r.appendChild(code);
    r.appendChild(document.createTextNode(" " + ev.text));
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  }

  // EventSource resends Last-Event-ID on its own reconnects; ?after= covers the first one.
  var stream = table.dataset.stream;  // may carry the page's filters (?ward=...)
  var source = new EventSource(stream + (stream.indexOf("?") < 0 ? "?" : "&") +
                               "after=" + encodeURIComponent(after));
  source.addEventListener("open", function () { live.hidden = false; });
  source.addEventListener("error", function () { live.hidden = true; });
  source.addEventListener("scan", function (e) { addRow(JSON.parse(e.data)); });
})();
