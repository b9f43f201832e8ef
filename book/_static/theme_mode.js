// The theme reads its colour mode from localStorage and, on a reader's first visit (nothing stored yet),
// finds "" and logs "Got invalid theme mode". Start such a visit in the theme's own default, "auto".
if (!document.documentElement.dataset.mode) {
  document.documentElement.dataset.mode = document.documentElement.dataset.defaultMode || "auto";
}
