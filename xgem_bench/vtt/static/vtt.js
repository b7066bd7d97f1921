// Click an X-ray to zoom (1x, 2x, 4x, back to 1x) inside its scrollable frame; keys 1-5 click a score.
document.querySelectorAll("img.xray").forEach(function (image) {
  var zoom = 1;
  image.addEventListener("click", function () {
    zoom = zoom >= 4 ? 1 : zoom * 2;
    image.style.width = (100 * zoom) + "%";
    image.style.maxWidth = "none";
    image.style.cursor = zoom >= 4 ? "zoom-out" : "zoom-in";
  });
});
document.addEventListener("keydown", function (event) {
  if (event.altKey || event.ctrlKey || event.metaKey) { return; }
  var button = document.getElementById("score-" + event.key);
  if (button) { button.click(); }
});
