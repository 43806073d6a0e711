/* Attention explorer: point at (or Tab to) a target token, see the weights on the sources.
 * No dependencies, no network. Every explorer is a <div class="attention-explorer"> that holds
 * its data as JSON in <script type="application/json" class="ae-data">; this script may be
 * included several times on a page and sets each explorer up once. */
(function () {
  "use strict";
  // viridis, 9 stops: a colour-blind-safe sequential scale from dark (0) to light (1)
  var STOPS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962",
               "#addc30", "#fde725"];

  function hex(c) { return [1, 3, 5].map(function (i) { return parseInt(c.substr(i, 2), 16); }); }

  function colour(w) {
    var x = Math.max(0, Math.min(1, w)) * (STOPS.length - 1), i = Math.min(Math.floor(x), STOPS.length - 2);
    var a = hex(STOPS[i]), b = hex(STOPS[i + 1]), t = x - i;
    return "rgb(" + a.map(function (v, k) { return Math.round(v + t * (b[k] - v)); }).join(",") + ")";
  }

  function setUp(root) {
    if (root.dataset.ready === "1") { return; }
    root.dataset.ready = "1";
    var data = JSON.parse(root.querySelector("script.ae-data").textContent);
    var pick = { example: 0, layer: 0, head: 0, target: 0 };
    var selects = {};
    ["example", "layer", "head"].forEach(function (name) {
      selects[name] = root.querySelector("select.ae-" + name);
      if (selects[name]) {
        selects[name].addEventListener("change", function () {
          pick[name] = Number(selects[name].value);
          if (name === "example") { pick.target = 0; render(true); } else { render(false); }
        });
      }
    });

    function matrix() {
      var ex = data.examples[pick.example];
      return ex.weights[pick.layer][pick.head];
    }

    function showRow() {
      var row = matrix()[pick.target] || [];
      root.querySelectorAll("[data-role=source]").forEach(function (el, i) {
        var w = row[i] || 0;
        el.dataset.weight = w.toFixed(4);
        el.style.setProperty("--ae-colour", colour(w));
        el.classList.toggle("ae-light", w > 0.55);
        var label = el.querySelector(".ae-w");
        if (label) { label.textContent = w.toFixed(2); }
      });
      root.querySelectorAll("[data-role=target]").forEach(function (el, j) {
        el.classList.toggle("ae-active", j === pick.target);
        el.setAttribute("aria-pressed", j === pick.target ? "true" : "false");
      });
      var table = root.querySelector("table.ae-table tbody");
      if (table) {
        var ex = data.examples[pick.example];
        table.innerHTML = "";
        ex.sources.forEach(function (s, i) {
          var tr = document.createElement("tr");
          var a = document.createElement("td"), b = document.createElement("td");
          a.textContent = s;
          b.textContent = (row[i] || 0).toFixed(3);
          tr.appendChild(a); tr.appendChild(b); table.appendChild(tr);
        });
        var cap = root.querySelector("table.ae-table caption");
        if (cap) { cap.textContent = "Weights of the target " + ex.targets[pick.target]; }
      }
    }

    function render(rebuild) {
      var ex = data.examples[pick.example];
      if (rebuild) {
        var targets = root.querySelector(".ae-targets"), sources = root.querySelector(".ae-sources");
        targets.innerHTML = ""; sources.innerHTML = "";
        ex.targets.forEach(function (t, j) {
          var el = document.createElement("span");
          el.className = "ae-token"; el.dataset.role = "target"; el.dataset.index = String(j);
          el.tabIndex = 0; el.setAttribute("role", "button"); el.textContent = t;
          targets.appendChild(el);
        });
        ex.sources.forEach(function (s, i) {
          var el = document.createElement("span");
          el.className = "ae-token"; el.dataset.role = "source"; el.dataset.index = String(i);
          var word = document.createElement("span"); word.textContent = s;
          var w = document.createElement("small"); w.className = "ae-w";
          el.appendChild(word); el.appendChild(w); sources.appendChild(el);
        });
        if (ex.grid) {
          sources.classList.add("ae-grid");
          sources.style.gridTemplateColumns = "repeat(" + ex.grid[1] + ", 1fr)";
        } else {
          sources.classList.remove("ae-grid");
          sources.style.gridTemplateColumns = "";
        }
        sources.style.backgroundImage = ex.image ? "url(" + ex.image + ")" : "";
        bindTargets();
      }
      showRow();
    }

    function bindTargets() {
      root.querySelectorAll("[data-role=target]").forEach(function (el) {
        var go = function () { pick.target = Number(el.dataset.index); showRow(); };
        el.addEventListener("mouseenter", go);
        el.addEventListener("focus", go);
        el.addEventListener("click", go);
      });
    }

    bindTargets();
    showRow();
  }

  function setUpAll() { document.querySelectorAll(".attention-explorer").forEach(setUp); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
})();
