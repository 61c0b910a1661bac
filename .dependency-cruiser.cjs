/** The hexagon, enforced (STYLE §2.3 rule 12). */
module.exports = {
  forbidden: [
    {
      name: "domain-imports-only-effect",
      comment: "domain depends on `effect` only",
      severity: "error",
      from: { path: "^packages/domain/src" },
      to: { dependencyTypesNot: ["local"], pathNot: "node_modules/effect/" }
    },
    {
      name: "domain-no-workspace",
      severity: "error",
      from: { path: "^packages/domain/src" },
      to: { path: "^packages/(adapters|runtime|registry|server)/" }
    },
    {
      name: "adapters-not-upward",
      comment: "adapters never import runtime/registry/server",
      severity: "error",
      from: { path: "^packages/adapters/" },
      to: { path: "^packages/(runtime|registry|server)/" }
    },
    {
      name: "only-presets-pick-adapters",
      comment: "in runtime, only RuntimePresets.ts (and the demo entry) import @yoi/adapters",
      severity: "error",
      from: { path: "^packages/runtime/src", pathNot: "^packages/runtime/src/RuntimePresets\\.ts$" },
      to: { path: "^packages/adapters/" }
    },
    {
      name: "registry-no-adapters-or-server",
      severity: "error",
      from: { path: "^packages/registry/src" },
      to: { path: "^packages/(adapters|server)/" }
    },
    {
      name: "registry-no-runtime",
      comment: "an embedded source takes a ready Layer<RuntimeClient>: only registry tests build one from @yoi/runtime",
      severity: "error",
      from: { path: "^packages/registry/src" },
      to: { path: "^packages/runtime/" }
    },
    {
      name: "no-foreign-internal",
      comment: "nothing imports another package's internal/",
      severity: "error",
      from: { path: "^packages/([^/]+)/" },
      to: { path: "^packages/([^/]+)/src/internal/", pathNot: "^packages/$1/" }
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true }
    }
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)build/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.base.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js"]
    },
    combinedDependencies: true
  }
}
