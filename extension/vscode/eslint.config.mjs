// @ts-check
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["out/"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      eqeqeq: "error",
      curly: "error",
      "@typescript-eslint/no-floating-promises": "off",
    },
  },
);
