// The transcript follows the recording: highlight the turn being played; click a time to seek.
(function () {
  "use strict";
  const audio = document.getElementById("recording");
  const turns = Array.from(document.querySelectorAll("#transcript .turn[data-start-ms]"))
    .filter((el) => el.dataset.startMs !== "");
  if (!audio || !turns.length) return;
  let current = null;
  audio.addEventListener("timeupdate", function () {
    const ms = audio.currentTime * 1000;
    let playing = null;
    for (const el of turns) {
      if (Number(el.dataset.startMs) <= ms) playing = el;
    }
    if (playing && playing.dataset.endMs !== "" && ms > Number(playing.dataset.endMs) + 1500) playing = null;
    if (playing === current) return;
    if (current) current.classList.remove("playing");
    current = playing;
    if (current) {
      current.classList.add("playing");
      current.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  });
  document.getElementById("transcript").addEventListener("click", function (event) {
    const seek = event.target.closest("[data-seek]");
    if (!seek || seek.dataset.seek === "") return;
    audio.currentTime = Number(seek.dataset.seek) / 1000;
    audio.play();
  });
})();
