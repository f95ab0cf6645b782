// Starts Swagger UI on the gateway's documents. A file of its own because the
// Content-Security-Policy forbids inline scripts. URLs are relative, so the page works under
// /api/v1/docs/ and /api/docs/ alike; nothing is loaded from outside the gateway.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    urls: [
      { url: "doc.json", name: "Gateway API" },
      { url: "worker-protocol.yaml", name: "Worker protocol" },
    ],
    "urls.primaryName": "Gateway API",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
};
