/* medallion: stands in for vega, vega-lite and vega-embed (jsdelivr) in GX Data Docs read offline.
   Our suite's pages draw no vega charts; a page that does shows this note in the chart's place. */
(function () {
  window.vegaEmbed = function (selector) {
    var el = document.querySelector(selector);
    if (el) { el.textContent = "(chart not available offline)"; }
    return Promise.resolve({});
  };
})();
