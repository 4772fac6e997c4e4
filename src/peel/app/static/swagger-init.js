// Starts Swagger UI from local files (no CDN; the CSP allows no inline script).
window.addEventListener("DOMContentLoaded", function () {
  window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
});
