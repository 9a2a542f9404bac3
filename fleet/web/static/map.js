// Site map: our own vanilla JS on top of Leaflet (served by the fleet). Each
// site is a keyboard-focusable marker coloured by the state the server
// computed (/ui/map/markers.json); Enter or a click opens its links.
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

  function popup(s) {
    var box = document.createElement("div");
    box.className = "site-popup";
    var title = document.createElement("b");
    title.textContent = s.name;
    box.appendChild(title);
    var state = document.createElement("div");
    state.className = "popup-state state-" + s.state;
    state.textContent = labels["state" + s.state.charAt(0).toUpperCase() + s.state.slice(1)];
    box.appendChild(state);
    var biz = document.createElement("div");
    biz.appendChild(document.createTextNode(labels.business + ": "));
    link(biz, "/ui/businesses/" + encodeURIComponent(s.business_id), s.business_name);
    box.appendChild(biz);
    var gates = document.createElement("div");
    gates.appendChild(document.createTextNode(labels.gates + " " + s.online + "/" + s.gates));
    if (s.gate) { // the first gate; the business page lists them all
      gates.appendChild(document.createTextNode(": "));
      link(gates, "/ui/devices/" + encodeURIComponent(s.gate), s.gate);
      if (s.gates > 1) gates.appendChild(document.createTextNode(" …"));
    }
    box.appendChild(gates);
    return box;
  }

  function stateName(s) {
    return labels["state" + s.charAt(0).toUpperCase() + s.slice(1)];
  }

  fetch(labels.markers, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    })
    .then(function (data) {
      var bounds = [];
      data.sites.forEach(function (row) {
        var s = {}; // rows are arrays in the order of data.fields
        data.fields.forEach(function (f, i) { s[f] = row[i]; });
        var size = s.state === "alert" ? 22 : 18; // alerts stand out by size, not only colour
        var icon = L.divIcon({ className: "site-pin state-" + s.state, html: "",
                               iconSize: [size, size], iconAnchor: [size / 2, size / 2],
                               popupAnchor: [0, -size / 2] });
        var m = L.marker([s.lat, s.lon], { icon: icon, keyboard: true, riseOnHover: true,
                                           title: s.name + " – " + stateName(s.state),
                                           alt: s.name + " – " + stateName(s.state) });
        m.bindPopup(popup(s));
        m.addTo(map);
        var node = m.getElement();
        if (node) {
          node.dataset.site = s.id;
          node.setAttribute("role", "button");
          node.setAttribute("aria-label", s.name + " – " + stateName(s.state));
        }
        bounds.push([s.lat, s.lon]);
      });
      if (bounds.length) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
      el.dataset.ready = String(data.sites.length);
    })
    .catch(function (e) {
      el.dataset.ready = "error";
      el.setAttribute("data-error", String(e));
    });
})();
