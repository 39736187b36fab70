// /docs: Swagger UI over this server's OpenAPI schema. A file, not an inline script: the
// Content-Security-Policy allows scripts from this origin only (app/api/security_headers.py).
// "Try it out" from this page is a browser request: it carries the page's CSRF token
// (app/api/guard.py), or use Authorize with an API token.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  window.ui = window.SwaggerUIBundle({
    url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis], layout: "BaseLayout",
    validatorUrl: null, // the badge would ask validator.swagger.io: nothing leaves this server
    requestInterceptor: (request) => { request.headers["X-CSRF-Token"] = csrf; return request; },
  });
})();
