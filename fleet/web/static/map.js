// Site map: our own vanilla JS on top of Leaflet (served by the fleet). Each
// site is a keyboard-focusable marker coloured by the state the server
// computed (/ui/map/markers.json, compact rows); Enter or a click opens its
// popup, whose names and links are fetched then (/ui/map/sites/ID.json).
(function () {
  "use strict";
  var el = document.getElementById("site-map");
  if (!el || !window.L) return;
  var labels = el.dataset;
  var tiles = labels.tiles;
  var map = L.map(el, { attributionControl: !!tiles, zoomSnap: 0.5 });
  if (tiles) {
    L.tileLayer(tiles, { attribution: labels.attribution || "", maxZoom: 19 }).addTo(map);
  }
  map.setView([10.735, 106.72], 13); // District 7, until the sites are known

  function link(parent, href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    parent.appendChild(a);
    return a;
  }

  function stateName(s) {
    return labels["state" + s.charAt(0).toUpperCase() + s.slice(1)];
  }

  function text(parent, tag, value, cls) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    node.textContent = value;
    parent.appendChild(node);
    return node;
  }

  // The popup's names are fetched when it opens (the marker list carries
  // none: 10,000 sites stay small); the state shown is the marker's until then.
  function fill(box, d) {
    box.textContent = "";
    text(box, "b", d.name);
    text(box, "div", stateName(d.state), "popup-state state-" + d.state);
    var biz = document.createElement("div");
    biz.appendChild(document.createTextNode(labels.business + ": "));
    link(biz, "/ui/businesses/" + encodeURIComponent(d.business_id), d.business_name);
    box.appendChild(biz);
    var gates = document.createElement("div");
    gates.appendChild(document.createTextNode(labels.gates + " " + d.online + "/" + d.gates));
    if (d.gate) { // the first gate; the business page lists them all
      gates.appendChild(document.createTextNode(": "));
      link(gates, "/ui/devices/" + encodeURIComponent(d.gate), d.gate);
      if (d.gates > 1) gates.appendChild(document.createTextNode(" …"));
    }
    box.appendChild(gates);
  }

  function popup(marker, id, state) {
    var box = document.createElement("div");
    box.className = "site-popup";
    box.dataset.site = id;
    text(box, "b", labels.siteLabel + " #" + id);
    text(box, "div", stateName(state), "popup-state state-" + state);
    fetch("/ui/map/sites/" + id + ".json", { credentials: "same-origin",
                                             headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (d) {
        fill(box, d);
        box.dataset.ready = "1";
        marker.getPopup().update();
      })
      .catch(function (e) {
        text(box, "div", labels.failed + " (" + String(e.message || e) + ")", "error");
        box.dataset.ready = "error";
      });
    return box;
  }

  fetch(labels.markers, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    })
    .then(function (data) {
      // rows are arrays in the order of data.fields; the state is an index into data.states
      var f = {};
      data.fields.forEach(function (name, i) { f[name] = i; });
      var bounds = [];
      var layer = L.layerGroup();
      var icons = {};
      data.states.forEach(function (state) {
        var size = state === "alert" ? 22 : 18; // alerts stand out by size, not only colour
        icons[state] = L.divIcon({ className: "site-pin state-" + state, html: "",
                                   iconSize: [size, size], iconAnchor: [size / 2, size / 2],
                                   popupAnchor: [0, -size / 2] });
      });
      data.sites.forEach(function (row) {
        var id = row[f.id];
        var state = data.states[row[f.state]];
        var label = labels.siteLabel + " #" + id + " – " + stateName(state);
        var ll = [row[f.lat], row[f.lon]];
        var m = L.marker(ll, { icon: icons[state], keyboard: true, riseOnHover: true,
                               title: label, alt: label });
        var box = null; // one per opening: reopened, the names are fetched afresh
        m.bindPopup(function () { return box || (box = popup(m, id, state)); });
        m.on("popupclose", function () { box = null; });
        m.on("add", function () {
          var node = m.getElement();
          node.dataset.site = id;
          node.setAttribute("role", "button");
          node.setAttribute("aria-label", label);
        });
        layer.addLayer(m);
        bounds.push(ll);
      });
      layer.addTo(map);
      if (bounds.length) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
      el.dataset.ready = String(data.sites.length);
    })
    .catch(function (e) {
      el.dataset.ready = "error";
      el.setAttribute("data-error", String(e));
    });
})();
