// Files that make the user's own machine run code when a folder is opened, a directory entered, a
// build, test or install run — so a change to one is a change to what runs on the host, outside
// any sandbox, and the diff card lists it first with the reason. The list is data: one glob (or
// several) and the reason a user reads on the card. It errs toward flagging: a false flag costs
// a glance, a missed one can cost the machine. Harmless configuration (.editorconfig,
// .gitignore, .prettierignore …) is left out so the flags keep their meaning.
//
// Globs are picomatch's, matched against the '/'-separated path relative to the project root,
// case-insensitively (macOS and Windows file systems are: `.VSCode/tasks.json` is the file VS
// Code reads). `**/` means "in any directory": tools run these wherever they are found (direnv on
// entering any directory, npm in any workspace package, an editor opened on a subfolder).
import picomatch from "picomatch";

export interface HostCodeRule {
  readonly globs: readonly string[];
  readonly reason: string;
}

export const HOST_CODE_FILES: readonly HostCodeRule[] = [
  // Entering a directory, starting a shell
  { globs: ["**/.envrc"], reason: "direnv runs it when you enter the directory" },
  { globs: ["**/.env", "**/.env.*"], reason: "tools load its variables into the programs they start (NODE_OPTIONS, LD_PRELOAD and the like run code)" },
  {
    globs: [
      "**/.bashrc",
      "**/.bash_profile",
      "**/.bash_login",
      "**/.bash_logout",
      "**/.profile",
      "**/.zshrc",
      "**/.zshenv",
      "**/.zprofile",
      "**/.zlogin",
      "**/.config/fish/**",
      "**/.inputrc",
    ],
    reason: "a shell runs it when it starts in a home directory, or when it is sourced",
  },
  {
    globs: ["**/.tool-versions", "**/.mise.toml", "**/mise.toml", "**/.mise/**", "**/.config/mise/**", "**/mise/config.toml", "**/.rtx.toml"],
    reason: "mise and asdf install and run the tools it names, and mise runs its hooks when you enter the directory",
  },
  { globs: ["**/shell.nix", "**/default.nix", "**/flake.nix", "**/devenv.nix"], reason: "nix-shell, nix develop and direnv evaluate it and run its shell hooks" },
  { globs: ["**/.exrc", "**/.nvimrc", "**/.nvim.lua", "**/.vimrc"], reason: "Vim and Neovim run it when started in the folder with 'exrc' on" },

  // Opening the folder in an editor or IDE
  { globs: ["**/.vscode/**", "**/*.code-workspace"], reason: "VS Code runs tasks, launch configurations and settings from it when the folder is opened" },
  { globs: ["**/.idea/**"], reason: "JetBrains IDEs run its run configurations, tools and startup tasks when the project is opened" },
  { globs: ["**/.devcontainer/**", "**/.devcontainer.json"], reason: "dev containers build and run its commands when the folder is opened in one" },
  { globs: ["**/.zed/**", "**/.helix/**"], reason: "the editor runs tasks and language servers it names when the folder is opened" },
  { globs: ["**/.storybook/**"], reason: "Storybook runs its config as code when it starts" },

  // AI coding agents: their hooks and the MCP servers they start run on the host
  { globs: ["**/.claude/**"], reason: "Claude Code runs the hooks and MCP servers its settings name" },
  { globs: ["**/.mcp.json"], reason: "AI agents (Claude Code and others) start the MCP servers it names, as commands on this machine" },
  { globs: ["**/.cursor/**"], reason: "Cursor runs the MCP servers and hooks it names" },
  { globs: ["**/.gemini/**"], reason: "Gemini CLI runs the MCP servers and tools its settings name" },
  { globs: ["**/.ironclaw/**"], reason: "IronClaw's project config: it names MCP servers to start (the workspace never applies it; listed in case)" },

  // Continuous integration: runs on push, often with the repository's secrets
  { globs: [".github/workflows/**", ".github/actions/**", "**/action.yml", "**/action.yaml"], reason: "GitHub Actions runs it on push, with the repository's secrets" },
  { globs: [".gitlab-ci.yml", ".gitlab/**"], reason: "GitLab CI runs it on push, with the project's secrets" },
  {
    globs: [".circleci/**", ".travis.yml", "azure-pipelines.yml", "bitbucket-pipelines.yml", "Jenkinsfile", ".buildkite/**", ".drone.yml", ".woodpecker/**", ".woodpecker.yml"],
    reason: "CI runs it on push, with the project's secrets",
  },

  // git
  { globs: ["**/.gitattributes"], reason: "git runs the filter and diff drivers it names on checkout, add and diff" },
  { globs: ["**/.gitmodules"], reason: "git fetches the submodules it names, from the URLs it gives, on clone and update" },
  { globs: ["**/.gitconfig", "**/.githooks/**"], reason: "git runs the hooks and commands it configures when the repository's config includes it" },
  // A directory holding HEAD and config is a git repository to git (a bare one, or one whose
  // .git/ is elsewhere): `git status` there, or a shell prompt showing it, runs what its config
  // names (core.fsmonitor, core.hooksPath). Flagged wherever they appear.
  {
    globs: ["**/HEAD", "**/config"],
    reason: "git reads a directory holding HEAD and config as a repository, and runs the commands its config names (core.fsmonitor, hooks) on any git command there",
  },
  { globs: ["**/.pre-commit-config.yaml", "**/.pre-commit-hooks.yaml"], reason: "pre-commit runs its hooks on every commit" },
  {
    globs: [
      "**/.husky/**",
      "**/lefthook.yml",
      "**/lefthook.yaml",
      "**/.lefthook.yml",
      "**/.lefthook.yaml",
      "**/.lintstagedrc*",
      "**/lint-staged.config.*",
      "**/.simple-git-hooks.*",
    ],
    reason: "git hook managers run it on commit and push",
  },

  // JavaScript and TypeScript
  { globs: ["**/package.json"], reason: "npm, yarn and pnpm run its scripts (install hooks run on every install)" },
  {
    globs: ["**/.npmrc", "**/.yarnrc", "**/.yarnrc.yml", "**/.yarn/**", "**/.pnpmfile.cjs", "**/.pnpmfile.mjs", "**/pnpm-workspace.yaml", "**/bunfig.toml"],
    reason: "the package manager reads it: it can name the registry, the shell and code to run on install",
  },
  { globs: ["**/deno.json", "**/deno.jsonc"], reason: "deno runs its tasks" },
  {
    globs: [
      "**/*.config.js",
      "**/*.config.cjs",
      "**/*.config.mjs",
      "**/*.config.ts",
      "**/*.config.cts",
      "**/*.config.mts",
      "**/.*rc.js",
      "**/.*rc.cjs",
      "**/.*rc.mjs",
      "**/.*rc.ts",
    ],
    reason: "build, test and lint tools (and editors' lint plugins) run it as code when they start",
  },

  // Python
  { globs: ["**/setup.py"], reason: "pip runs it when the package is installed or built" },
  { globs: ["**/pyproject.toml", "**/setup.cfg"], reason: "pip and build tools read it to pick and run the build backend and its hooks" },
  { globs: ["**/conftest.py", "**/pytest.ini"], reason: "pytest runs it (or the plugins it names) when tests are collected" },
  { globs: ["**/tox.ini"], reason: "tox runs the commands it lists" },
  { globs: ["**/noxfile.py"], reason: "nox runs it" },
  { globs: ["**/sitecustomize.py", "**/usercustomize.py", "**/*.pth"], reason: "Python runs it at startup when it is on the path" },
  { globs: ["**/.venv/**", "**/venv/bin/**"], reason: "a virtual environment: its scripts run when it is activated or its tools are used" },
  { globs: ["**/.pylintrc", "**/pylintrc"], reason: "pylint runs its init-hook as Python" },

  // JVM
  {
    globs: [
      "**/build.gradle",
      "**/build.gradle.kts",
      "**/settings.gradle",
      "**/settings.gradle.kts",
      "**/gradle.properties",
      "**/gradlew",
      "**/gradlew.bat",
      "**/gradle/wrapper/**",
      "**/init.gradle",
    ],
    reason: "Gradle runs it when the project is built or opened in an IDE",
  },
  { globs: ["**/pom.xml", "**/.mvn/**", "**/mvnw", "**/mvnw.cmd"], reason: "Maven runs the plugins it names when the project is built or opened in an IDE" },
  { globs: ["**/build.sbt", "**/project/*.sbt", "**/project/*.scala"], reason: "sbt runs it when the project is built or opened in an IDE" },

  // .NET, Apple, Elixir, R
  {
    globs: ["**/*.csproj", "**/*.fsproj", "**/*.vbproj", "**/Directory.Build.props", "**/Directory.Build.targets"],
    reason: "MSBuild runs the tasks and targets it names when the project is built or opened in an IDE",
  },
  { globs: ["**/Package.swift"], reason: "SwiftPM runs it as Swift, and the plugins it names, when the package is resolved or built (Xcode does so when it is opened)" },
  { globs: ["**/Podfile"], reason: "CocoaPods runs it as Ruby on pod install" },
  { globs: ["**/mix.exs"], reason: "mix runs it as Elixir" },
  { globs: ["**/.Rprofile"], reason: "R runs it at startup in the directory" },

  // Rust, Go, C and others
  { globs: ["**/Cargo.toml"], reason: "cargo builds and runs what it names (build scripts, proc macros)" },
  { globs: ["**/build.rs"], reason: "cargo runs it before every build" },
  { globs: ["**/.cargo/config", "**/.cargo/config.toml"], reason: "cargo reads it: it can replace the compiler, linker and runner" },
  { globs: ["**/rust-toolchain", "**/rust-toolchain.toml"], reason: "rustup installs and runs the toolchain it names" },
  { globs: ["**/go.mod", "**/go.work"], reason: "go downloads and runs the toolchain it names" },
  { globs: ["**/Makefile", "**/makefile", "**/GNUmakefile", "**/*.mk"], reason: "make runs its recipes" },
  {
    globs: ["**/CMakeLists.txt", "**/*.cmake", "**/CMakePresets.json", "**/CMakeUserPresets.json"],
    reason: "CMake runs it when configuring (IDEs do so when the folder is opened)",
  },
  { globs: ["**/meson.build", "**/meson_options.txt", "**/meson.options"], reason: "Meson runs it when configuring" },
  { globs: ["**/configure", "**/configure.ac", "**/autogen.sh", "**/bootstrap.sh"], reason: "run to configure the build" },
  {
    globs: ["**/BUILD", "**/BUILD.bazel", "**/WORKSPACE", "**/WORKSPACE.bazel", "**/MODULE.bazel", "**/*.bzl", "**/.bazelrc"],
    reason: "Bazel runs its rules and the commands they name",
  },
  { globs: ["**/justfile", "**/.justfile"], reason: "just runs its recipes" },
  { globs: ["**/gulpfile.*", "**/Gruntfile.*"], reason: "gulp and grunt run it as code" },
  { globs: ["**/Vagrantfile"], reason: "vagrant runs it as Ruby" },
  { globs: ["**/uv.toml"], reason: "uv and uvx read it: it can name the package index and what runs" },
  { globs: ["**/.pnp.cjs", "**/.pnp.loader.mjs"], reason: "Yarn Plug'n'Play: node loads it to resolve every import" },
  { globs: ["**/.irbrc", "**/.pryrc"], reason: "irb and pry run it as Ruby at startup" },
  { globs: ["**/.rubocop.yml"], reason: "RuboCop loads the Ruby files its require names" },
  { globs: ["**/.lfsconfig"], reason: "git lfs reads it: it names the server large files are fetched from" },
  { globs: ["**/*.tf", "**/*.tf.json", "**/.terraformrc", "**/terraform.rc"], reason: "terraform runs the providers and provisioners it names" },
  { globs: ["**/.gitpod.yml"], reason: "Gitpod runs its tasks when a workspace starts" },
  { globs: ["**/NuGet.config", "**/nuget.config", "**/*.sln", "**/*.targets", "**/*.props"], reason: "MSBuild and NuGet read it: it can name the package source and tasks to run" },
  { globs: ["**/flake.lock"], reason: "nix fetches exactly what it names and evaluates it" },
  { globs: ["**/.bundle/config"], reason: "bundler reads it: it can name the gem source and build flags" },
  { globs: ["**/Procfile"], reason: "foreman, heroku local and the like run the commands it lists" },
  {
    globs: [
      "**/CLAUDE.md",
      "**/AGENTS.md",
      "**/.cursorrules",
      "**/.github/copilot-instructions.md",
      "**/.codex/**",
      "**/.roo/**",
      "**/.continue/**",
      "**/.windsurfrules",
      "**/GEMINI.md",
    ],
    reason: "AI coding agents follow it as instructions (and some run what it names) when they work in the folder",
  },
  { globs: ["**/Tiltfile"], reason: "tilt runs it and the commands it names" },
  { globs: ["**/devbox.json", "**/pixi.toml"], reason: "devbox and pixi install what it names and run its init hooks and tasks" },
  { globs: ["**/Taskfile.yml", "**/Taskfile.yaml", "**/Taskfile.dist.yml", "**/Taskfile.dist.yaml"], reason: "task runs its commands" },
  { globs: ["**/Gemfile", "**/*.gemspec"], reason: "bundler runs it as Ruby" },
  { globs: ["**/Rakefile", "**/*.rake"], reason: "rake runs it" },
  { globs: ["**/composer.json"], reason: "composer runs its scripts (some on every install)" },
  { globs: ["**/Dockerfile", "**/Dockerfile.*", "**/*.dockerfile", "**/Containerfile"], reason: "docker runs its commands when the image is built" },
  {
    globs: ["**/docker-compose*.yml", "**/docker-compose*.yaml", "**/compose.yml", "**/compose.yaml", "**/compose.*.yml", "**/compose.*.yaml"],
    reason: "docker compose starts what it names, with the mounts and privileges it sets",
  },

  // Lock files: the next install fetches exactly what they name, and runs its install scripts
  {
    globs: [
      "**/package-lock.json",
      "**/npm-shrinkwrap.json",
      "**/yarn.lock",
      "**/pnpm-lock.yaml",
      "**/bun.lock",
      "**/bun.lockb",
      "**/Cargo.lock",
      "**/poetry.lock",
      "**/uv.lock",
      "**/Pipfile.lock",
      "**/Gemfile.lock",
      "**/composer.lock",
      "**/go.sum",
      "**/requirements*.txt",
      "**/Pipfile",
    ],
    reason: "the next install fetches exactly the packages it names, from where it says, and runs their install code",
  },
];

export const EXECUTABLE_REASON = "the change makes it executable: it can be run as a program";
export const WRITABLE_REASON = "the change makes it writable by other users of this machine (group or world): any of them could change what it runs";

const matchers = HOST_CODE_FILES.map((rule) => ({ test: picomatch([...rule.globs], { dot: true, nocase: true }), reason: rule.reason }));

/** Why a file at `path` (relative, '/'-separated) runs code on the host; empty: it is not known to. */
export function hostCodeReasons(path: string): string[] {
  return matchers.filter((m) => m.test(path)).map((m) => m.reason);
}
