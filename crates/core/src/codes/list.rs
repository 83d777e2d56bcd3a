//! The registry itself: every code with its title and explanation, by
//! range (E00xx the workspace, E01xx the language, ... E10xx scanning).

use super::Code;

/// Every code, sorted.
pub const CODES: &[Code] = &[
    // E00xx: the workspace, dhi.toml, the files dhib reads and writes, and `dhib explain`.
    Code {
        code: "E0001",
        title: "cannot open the starting directory",
        explanation: "dhib could not open the directory it starts from: the one `-C DIR` (or `DHIB_DIRECTORY`) names, or the current \
                      directory, which may have been removed. Check that the directory exists and that you may enter it.",
    },
    Code {
        code: "E0002",
        title: "no dhi.toml found",
        explanation: "dhib finds the workspace by walking up from the current directory (or `-C DIR`) to the first directory holding a \
                      `dhi.toml`, and there is none. Run dhib inside a workspace, or make this directory the root of one; an empty \
                      dhi.toml is valid:\n\n    touch dhi.toml",
    },
    Code {
        code: "E0003",
        title: "cannot walk the workspace",
        explanation: "While looking for .dhi files below the workspace root, dhib could not read a directory, usually because of its \
                      permissions. Make it readable, or list it under `exclude` in the `[workspace]` section of dhi.toml so it is not \
                      read.",
    },
    Code {
        code: "E0004",
        title: "file path is not valid UTF-8",
        explanation: "The path of a .dhi file below the workspace root is not valid UTF-8, so no label can name it. Rename the file or \
                      its directory, or list the directory under `[workspace] exclude` in dhi.toml.",
    },
    Code {
        code: "E0005",
        title: "cannot read a file",
        explanation: "dhib could not read dhi.toml, a .dhi file of the workspace, or a file given to `dhib fmt`; the message gives the \
                      reason. Check that the file exists, that you may read it, and that it is UTF-8 text.",
    },
    Code {
        code: "E0006",
        title: "invalid dhi.toml",
        explanation: "dhi.toml is not valid TOML, or it holds a key dhib does not know or a value of the wrong type; the error points at \
                      the place. Every section and key is optional, so correct or remove the marked one (docs/language.md lists them).",
    },
    Code {
        code: "E0007",
        title: "cannot write a file",
        explanation: "`dhib lock` could not create the directory of, or write, the file named by `[debian] lock`, or `dhib fmt` could not \
                      write a reformatted .dhi file back. Check the permissions of the file and its directory; a failed write leaves the \
                      old contents in place.",
    },
    Code {
        code: "E0008",
        title: "unknown error code",
        explanation: "`dhib explain` was given something that is not a code in its registry. Codes are `E` and four digits, such as \
                      `E0201` (`e0201` and `0201` are accepted too); `dhib explain` without an argument lists every code with its title.",
    },
    // E01xx: syntax, `load`, and the files `file(...)` reads.
    Code {
        code: "E0100",
        title: "syntax error",
        explanation: "The file does not follow the .dhi grammar; dhib reports the first place it stops making sense, often with a hint. \
                      Common causes are an unclosed bracket or string, single quotes, `:` instead of `=`, a `;` or stray `,` after an \
                      attribute, and an unquoted value such as a URL. Attributes are written `name = value`:\n\n    user = 65532",
    },
    Code {
        code: "E0101",
        title: "`load` imports nothing",
        explanation: "A `load` names a file but no templates or `let`s to import from it. List the names after the \
                      path:\n\n    load(\"@stdlib//build.dhi\", \"autotools\")",
    },
    Code {
        code: "E0102",
        title: "integer out of range",
        explanation: "An integer (decimal, or octal written `0o755`) does not fit in a signed 64-bit number. Use a smaller number; a \
                      value that is not really a number, such as a long id, belongs in a string.",
    },
    Code {
        code: "E0103",
        title: "brackets nest too deeply",
        explanation: "Lists, maps, calls and blocks may nest at most 128 levels deep, and the marked bracket goes deeper. Flatten the \
                      value, or move parts of it into `let`s.",
    },
    Code {
        code: "E0110",
        title: "not a loadable path",
        explanation: "The path of a `load` must be `//DIR/FILE.dhi` for a workspace file or `@stdlib//FILE.dhi` for the standard library: \
                      it ends in `.dhi` and has no empty or `..` segments. Relative paths are not \
                      accepted:\n\n    load(\"//lib/flags.dhi\", \"lto_cflags\")",
    },
    Code {
        code: "E0111",
        title: "loaded file does not exist",
        explanation: "The file a `load` names is not a .dhi file of the workspace (or of the standard library, for `@stdlib//`). A `//` \
                      path starts at the workspace root, the directory of dhi.toml, not at the loading file; files in directories that \
                      `[workspace] exclude` lists cannot be loaded.",
    },
    Code {
        code: "E0112",
        title: "loaded file has syntax errors",
        explanation: "The file a `load` names does not parse, so nothing can be imported from it. Fix the syntax errors reported in that \
                      file; this error then goes away.",
    },
    Code {
        code: "E0113",
        title: "loaded name is not defined there",
        explanation: "The loaded file defines no template or `let` of this name. A `load` imports only names defined in that file, not \
                      the ones it loads itself, so load the name from the file that defines it. The hint lists what the file defines.",
    },
    Code {
        code: "E0120",
        title: "file does not exist",
        explanation: "A `file(...)` call names a workspace file that does not exist. Its path is relative to the directory of the .dhi \
                      file, or to the workspace root when it starts with `//`; check the spelling, or add the file.",
    },
    Code {
        code: "E0121",
        title: "file resolves outside the workspace",
        explanation: "The path in `file(...)` lies in the workspace, but following its symbolic links leads outside it. dhib reads only \
                      files that are still inside the workspace with every link resolved, so nothing of the host leaks into an image: \
                      copy the file in instead of linking to it.",
    },
    Code {
        code: "E0122",
        title: "not a regular file",
        explanation: "`file(...)` names a directory, FIFO, socket or device. Only regular files can be read: name a file, and for a \
                      directory name each file you need.",
    },
    Code {
        code: "E0123",
        title: "cannot read a referenced file",
        explanation: "A file that `file(...)` names exists but could not be read; the message gives the reason, usually permissions. Make \
                      the file readable by the user running dhib.",
    },
    // E02xx: blocks, attributes, templates and values.
    Code {
        code: "E0201",
        title: "duplicate target",
        explanation: "Two targets of one package (directory) have the same name, in one .dhi file or in two files of that directory, so \
                      their label would be ambiguous. Rename one of them; note that variant `V` of image `I` is the target `I-V`.",
    },
    Code {
        code: "E0202",
        title: "unknown block kind",
        explanation: "A block starts with a word that is not a kind of target. The kinds are source, package, deb, env, image, \
                      customization and test; the hint suggests the closest one.",
    },
    Code {
        code: "E0203",
        title: "invalid target name",
        explanation: "A block's name (after interpolation) is not a valid target name. A name is made of ASCII letters, digits and \
                      `_ - . +`, and is not empty, `.` or `..`.",
    },
    Code {
        code: "E0204",
        title: "variants outside an image",
        explanation: "A `variant` block appears inside a block other than `image`; only images have variants. Define another target of \
                      its own name instead.",
    },
    Code {
        code: "E0205",
        title: "cannot append with `+=`",
        explanation: "In a variant, `+=` appends a list to the list the image sets, or merges a map into its map; the marked value is not \
                      of the inherited type. Use `=` to replace the value, or wrap a single item in a \
                      list:\n\n    packages += [//pkgs/zlib]",
    },
    Code {
        code: "E0206",
        title: "misplaced block",
        explanation: "A block is nested where none may be: targets are defined at the top level of a file, only `variant` may appear \
                      inside a block (directly inside an `image`), and nothing nests inside a variant. Move the block to the top level of \
                      the file.",
    },
    Code {
        code: "E0207",
        title: "attribute set twice",
        explanation: "The same attribute or section is written twice in one block or section. Remove one of them; a variant that sets an \
                      attribute of its image replaces it, and `+=` extends it.",
    },
    Code {
        code: "E0208",
        title: "`+=` with nothing to append to",
        explanation: "`+=` extends a value a variant inherits from its image, so it is allowed only in a `variant` block. In a target's \
                      own block or in a section, write `name = ...` instead.",
    },
    Code {
        code: "E0209",
        title: "unknown attribute",
        explanation: "The block or section takes no attribute of this name. The hint suggests the closest attribute or lists the ones it \
                      takes; docs/language.md describes each kind's attributes.",
    },
    Code {
        code: "E0210",
        title: "expected `name = value` in a section",
        explanation: "This section is a map, such as `env { ... }`, and holds only `name = value` entries: no `+=`, blocks, sections or \
                      calls. Write each entry as an attribute:\n\n    env {\n      CFLAGS = \"-O2\"\n    }",
    },
    Code {
        code: "E0211",
        title: "section where a value is expected",
        explanation: "An attribute that takes a plain value (a string, list, label and so on) was written as a section `name { ... }`. \
                      Only attributes that hold a record or a map can be written as sections: write `name = value`.",
    },
    Code {
        code: "E0212",
        title: "call standing alone in a block",
        explanation: "A call such as `autotools(...)` stands on its own line inside a block or a value template's body, where only \
                      attributes, sections and variants belong. Assign its value to an attribute:\n\n    build = autotools()",
    },
    Code {
        code: "E0220",
        title: "missing sha256 pin",
        explanation: "A `source` or `deb` has no `sha256`, and every download dhib makes is pinned by its digest. Add the 64 lowercase \
                      hex digits that `sha256sum FILE` prints:\n\n    sha256 = \"<64 hex digits>\"",
    },
    Code {
        code: "E0221",
        title: "missing required attribute",
        explanation: "The target lacks an attribute its kind requires, such as the `version`, `env` or `build` of a package, or the \
                      `arch` of a deb. Add it; the hint shows the form its value takes.",
    },
    Code {
        code: "E0222",
        title: "image declares no user",
        explanation: "A runtime image (not `dev = true` or a `dev` variant) has no `user`, and no `base` image to inherit one from. \
                      Runtime images run as a non-root user: add `user = 65532`, or set `allow_root = true` if it must run as root.",
    },
    Code {
        code: "E0223",
        title: "image runs as root",
        explanation: "A runtime image or customization sets `user` to root: `0`, `\"0\"`, `\"root\"`, or `0:...` / `root:...`. Use a \
                      non-root user such as `user = 65532`, keep root for a `dev` variant, or set `allow_root = true` when the image must \
                      start as root, e.g. an init that drops privileges itself.",
    },
    Code {
        code: "E0224",
        title: "git source without a revision",
        explanation: "A `source` whose `url` starts with `git+` names no `rev`. Add a tag or a full commit id; the `sha256` pins the \
                      `git archive` of that revision:\n\n    rev = \"v1.2.3\"",
    },
    Code {
        code: "E0225",
        title: "inherits a root user",
        explanation: "An image or customization sets no `user` of its own, so it runs as the user of its base chain, and that user is \
                      root; a runtime image built on a dev image does this. Set `user` (e.g. `user = 65532`), or `allow_root = true`.",
    },
    Code {
        code: "E0230",
        title: "template used as the wrong kind",
        explanation: "A value template (its body sets attributes) was called on its own line as if it defined targets, a target template \
                      (its body holds blocks) was used as a value, or a target template defines no targets. Use a value template as an \
                      attribute value, e.g. `build = autotools()`, and call a target template on its own line at the top level.",
    },
    Code {
        code: "E0231",
        title: "templates nest too deeply",
        explanation: "Expanding this call led to more than 64 nested template calls, almost always a template calling itself, directly or \
                      through others. Templates cannot recurse: break the cycle.",
    },
    Code {
        code: "E0232",
        title: "unknown template",
        explanation: "The call names no template defined or loaded in this file, and no builtin (`file`, `join`, `git_tags`, \
                      `github_releases`, `debian_index`). Check the spelling, or load the template \
                      first:\n\n    load(\"@stdlib//build.dhi\", \"autotools\")",
    },
    Code {
        code: "E0233",
        title: "unknown parameter",
        explanation: "A call passes a named argument that the template or builtin does not take. Check the name; the hint suggests the \
                      closest parameter or lists them all.",
    },
    Code {
        code: "E0234",
        title: "too many arguments",
        explanation: "A call passes more positional arguments than the template or builtin has parameters. Remove the extra ones; \
                      positional arguments fill the parameters in the order they are declared, and others can be passed by name.",
    },
    Code {
        code: "E0235",
        title: "parameter given twice",
        explanation: "A template parameter is given twice: by name twice, or by position and again by name. Give each parameter once; \
                      unnamed arguments fill the parameters in order.",
    },
    Code {
        code: "E0236",
        title: "missing argument",
        explanation: "A call does not give a template parameter that has no default, or a required parameter of a builtin, such as `path` \
                      of `file` or `url` of `git_tags`. Pass it, by position or by name.",
    },
    Code {
        code: "E0240",
        title: "duplicate map key",
        explanation: "A map literal has the same key twice. Each key may appear once: remove or rename one of them.",
    },
    Code {
        code: "E0241",
        title: "invalid label",
        explanation: "A label is malformed. Labels start with `//` or `:` and name a target, as in `//pkgs/zlib:zlib`, `//pkgs/zlib` (the \
                      last directory is the name) or `:zlib` (this directory); no directory segment may be empty, `.` or `..`.",
    },
    Code {
        code: "E0242",
        title: "cannot add these values",
        explanation: "`+` joins two strings, two lists or two maps, and the marked operand is of another type than the value before it. \
                      Make both sides the same kind, e.g. wrap a single item in a list:\n\n    packages = base_packages + [//pkgs/zlib]",
    },
    Code {
        code: "E0243",
        title: "no such field",
        explanation: "A dotted name such as `flags.cflags` reads a key the map does not have, or a field of a value that is not a map. \
                      Check the key; the hint suggests the closest one.",
    },
    Code {
        code: "E0244",
        title: "attribute refers to itself",
        explanation: "An attribute's value uses the attribute itself, directly or through other attributes of its block, e.g. `url` \
                      interpolating `{version}` while `version` uses `{url}`. Break the cycle, for instance with a `let`.",
    },
    Code {
        code: "E0245",
        title: "unknown name",
        explanation: "A bare name, or a `{name}` in a string, is not a template parameter, an attribute of the same block, or a `let` of \
                      this file or loaded into it. Check the spelling; strings are written in double quotes and labels start with `//` or \
                      `:`. To keep braces, as in a shell `${VAR}`, double them: `${{VAR}}`.",
    },
    Code {
        code: "E0246",
        title: "bad interpolation",
        explanation: "A string has an unmatched `}`, an unclosed `{`, or a `{...}` that is not a name or a dotted name. Interpolate as \
                      `{version}`, and write `{{` and `}}` for literal braces.",
    },
    Code {
        code: "E0247",
        title: "value cannot be interpolated",
        explanation: "A `{name}` in a string refers to a list, map, label, boolean or other value that is not a string or an integer; \
                      only those two can be interpolated. Turn a list into a string with `join(...)`.",
    },
    Code {
        code: "E0248",
        title: "bad `file(...)` argument",
        explanation: "`path` must be a string naming a file inside the workspace (relative to the .dhi file, or to the root with `//`; no \
                      `..` out of the workspace, no `/absolute` path), `to` a clean absolute path in the image such as \
                      `\"/etc/app.conf\"`, and `mode` a mode up to `0o7777`. Copy files from elsewhere into the workspace.",
    },
    Code {
        code: "E0249",
        title: "bad `join(...)` argument",
        explanation: "`join` takes a list of strings or integers, and an optional string `sep` that defaults to a space. Pass \
                      those:\n\n    join([\"--prefix=/usr\", \"--shared\"], sep = \" \")",
    },
    Code {
        code: "E0250",
        title: "value of the wrong type",
        explanation: "An attribute's value does not have the type the attribute takes: a string where a list belongs, a quoted label, a \
                      `sha256` that is not 64 lowercase hex digits, a `layers_from` reference not pinned by `@sha256:`, and so on. The \
                      message says what was expected and found; the hint often shows the fix.",
    },
    Code {
        code: "E0251",
        title: "a deb neither pinned nor built",
        explanation: "A `deb` comes either from an archive, pinned by `version`, `filename` and `sha256` (as `dhib lock` writes it), \
                      or from a `debian_build`, named by `built` and `package`, and its version is the one the build gives it. It \
                      cannot be both, nor neither:\n\n    deb \"zlib1g-rebuilt\" {\n      built = //debian/zlib\n      package = \
                      \"zlib1g\"\n      arch = \"amd64\"\n    }",
    },
    Code {
        code: "E0252",
        title: "a patched Debian build without a version bump",
        explanation: "A `debian_build` with `patches` changes what Debian built, so its binaries must not carry Debian's version: a \
                      scanner would take them for Debian's and match Debian's advisories against them. Give it a `bump`, whose suffix \
                      extends the exact version it rebuilds and whose changelog says what changed:\n\n    bump = { suffix = \
                      \"+dhib1\", changelog = [\"Fix CVE-2023-45853 in minizip.\"] }",
    },
    // E03xx: the build graph.
    Code {
        code: "E0301",
        title: "unknown label",
        explanation: "A label names no target of the workspace. A label's directory is relative to the workspace root; check the spelling \
                      (the hint suggests the closest target), or define the target.",
    },
    Code {
        code: "E0302",
        title: "label of the wrong kind",
        explanation: "An attribute names a target of a kind it does not accept: `env` must name an `env`, `source` a `source`, `packages` \
                      a package or deb, and so on. Name a target of the kind the message asks for.",
    },
    Code {
        code: "E0303",
        title: "dependency not built for this platform",
        explanation: "An image depends on another image or customization, such as its `base`, that is not built for one of the image's \
                      platforms. Add the platform to the other image's `platforms`, or build this one only for platforms it has.",
    },
    Code {
        code: "E0304",
        title: "deb of the wrong architecture",
        explanation: "A target built for a platform uses a `deb` whose `arch` is neither that platform's architecture nor `all`. Use the \
                      package built for that architecture: `dhib lock` pins one per `[debian] arch`, labelled like `zlib1g-arm64`.",
    },
    Code {
        code: "E0310",
        title: "dependency cycle",
        explanation: "Targets depend on one another in a loop, so none can be built first; the message shows every edge where it was \
                      written. Remove one of these dependencies to break the cycle.",
    },
    // E04xx: queries, patterns and node names on the command line.
    Code {
        code: "E0401",
        title: "unterminated quoted word",
        explanation: "A query has a `\"` or `'` that opens a quoted word and never closes it. Close the quote; the shell takes one level \
                      of quotes away, so quote the whole query for it:\n\n    dhib query 'attr(version, \"1.0\", //...)'",
    },
    Code {
        code: "E0402",
        title: "empty query",
        explanation: "The query or pattern is empty. Name targets with a pattern or an expression, e.g. `//...` or \
                      `rdeps(//..., //pkgs/zlib)`.",
    },
    Code {
        code: "E0403",
        title: "unexpected input after the query",
        explanation: "A whole query was read, but more text follows it. Join expressions with ` + `, ` - ` or ` ^ `, with spaces around \
                      them: without spaces, `-` is part of a target name.",
    },
    Code {
        code: "E0404",
        title: "malformed query",
        explanation: "The query needs something else at the marked place: a `,` between arguments, a closing `)`, a pattern, or a word \
                      such as a kind. The forms are deps(X[, DEPTH]), rdeps(UNIVERSE, X[, DEPTH]), allpaths(FROM, TO), kind(KIND, X), \
                      attr(NAME, VALUE, X), tests(X), supported(DATE, X) and unsupported(DATE, X), where DATE is YYYY-MM-DD.",
    },
    Code {
        code: "E0405",
        title: "depth is not a number",
        explanation: "The optional last argument of `deps` or `rdeps` is a depth and must be a whole number:\n\n    deps(//images/lua, 1)",
    },
    Code {
        code: "E0406",
        title: "query function without arguments",
        explanation: "The name of a query function (deps, rdeps, allpaths, kind, attr, tests) is written without its parenthesised \
                      arguments. Give them, e.g. `deps(//images/lua)`.",
    },
    Code {
        code: "E0407",
        title: "unknown query function",
        explanation: "A word followed by `(` is not a query function. The functions are deps, rdeps, allpaths, kind, attr and tests.",
    },
    Code {
        code: "E0408",
        title: "unknown kind in `kind(...)`",
        explanation: "The first argument of `kind(...)` is not a node kind. The kinds are source, package, deb, env, image, \
                      customization, test and attestation:\n\n    kind(image, //...)",
    },
    Code {
        code: "E0409",
        title: "invalid pattern",
        explanation: "A target pattern is malformed. Patterns are `//...` (everything), `//dir/...` (dir and below), `//dir:all` (dir \
                      itself) or a label; a single node may add `@PLATFORM` and `#ATTESTATION`, as in `//images/lua:lua@linux/arm64`.",
    },
    Code {
        code: "E0410",
        title: "no such target",
        explanation: "A label or node named in a query or pattern, or given to `dhib ls` or `dhib log`, is not in the build graph. Check \
                      the spelling; the hint suggests the closest node.",
    },
    Code {
        code: "E0411",
        title: "not a node or pattern",
        explanation: "A command-line argument that must name a node or a pattern is malformed: the node of `dhib ls`, `dhib log` or \
                      `dhib verify` (a label, with optional `@PLATFORM` and `#ATTESTATION`) or a pattern of `dhib publish`. Write \
                      `//dir:name`, `//dir/...` or `//...`.",
    },
    Code {
        code: "E0412",
        title: "names more than one node",
        explanation: "`dhib key` prints the key of one node per argument, and this argument matches several, like a pattern or a target \
                      built for several platforms. Name one configuration:\n\n    dhib key //dir:name@linux/arm64",
    },
    // E05xx: building, running and the store.
    Code {
        code: "E0501",
        title: "no sandbox",
        explanation: "Build steps run in a bubblewrap (`bwrap`) sandbox, and dhib could not start one: bwrap is missing or cannot create \
                      namespaces on this machine. Install bubblewrap (scripts/setup.sh does); only to debug steps, `--sandbox=none` \
                      builds without isolation and marks the results unsandboxed.",
    },
    Code {
        code: "E0502",
        title: "store error",
        explanation: "dhib could not open, lock, read or change its store of built results (`.dhib/` in the workspace, or the directory \
                      `--store` or `DHIB_STORE` names); the message gives the reason. Check the directory's permissions and free space.",
    },
    Code {
        code: "E0503",
        title: "invalid size",
        explanation: "`dhib gc --max-size` takes a number of bytes, or a number followed by K, M, G or T (powers of \
                      1024):\n\n    dhib gc --max-size 20G",
    },
    Code {
        code: "E0504",
        title: "node not built at its current key",
        explanation: "`dhib ls` or `dhib log` found no result or log for the node at its current key: it was never built, or its inputs \
                      changed since. Build it first:\n\n    dhib build //pkgs/zlib:zlib",
    },
    Code {
        code: "E0505",
        title: "cannot write the output directory",
        explanation: "`dhib build` or `dhib test` could not write image layouts or test reports into the output directory (`dhib-out/` in \
                      the workspace, or `--out DIR`). Check that it is writable and has free space.",
    },
    Code {
        code: "E0506",
        title: "not exactly one image to run",
        explanation: "`dhib run` runs one image, and the pattern names no image or customization, or several (a multi-platform image \
                      counts as one and runs as this machine's platform). Name one:\n\n    dhib run //images/lua:lua",
    },
    Code {
        code: "E0507",
        title: "image did not build",
        explanation: "`dhib run` builds the image before it runs it, and the build failed, so there is nothing to run. The build's errors \
                      are reported above it; `dhib log NODE` shows the log of a failed step.",
    },
    Code {
        code: "E0508",
        title: "cannot run the image",
        explanation: "The image was built but could not be run: it is built for another architecture than this machine, it has no \
                      entrypoint or cmd and no command was given after `--`, or its user or working directory cannot be set up. The \
                      message says which.",
    },
    Code {
        code: "E0509",
        title: "reproducibility check failed",
        explanation: "`dhib build --check-reproducible` builds everything again from nothing in a scratch store and compares the outputs, \
                      and that second build could not be made or failed. This is not a difference between builds (those are listed as \
                      such): fix what the message names.",
    },
    Code {
        code: "E0510",
        title: "cannot read the signing key",
        explanation: "`dhib build` signs with the key file `DHIB_SIGNING_KEY` names, or else `[sign] key` in dhi.toml, and could not read \
                      or decrypt it. It must be a private key in cosign's format, as `dhib keygen --output PREFIX` writes, and its \
                      password comes from DHIB_KEY_PASSWORD or COSIGN_PASSWORD.",
    },
    Code {
        code: "E0511",
        title: "nothing to test",
        explanation: "`dhib test` runs the tests of images, customizations and `test` targets, and the patterns name none of them. Name \
                      images or tests, e.g. `dhib test //examples/...`.",
    },
    Code {
        code: "E0512",
        title: "no public key to verify with",
        explanation: "`dhib verify` checks with the public key named by `--key FILE`, else the signing key's path (`DHIB_SIGNING_KEY` or \
                      `[sign] key`) with `.pub` in place of `.key`. There is none, or it cannot be read or is not a public key: name one \
                      with `--key FILE`.",
    },
    Code {
        code: "E0513",
        title: "cannot create a temporary directory",
        explanation: "`dhib verify` needs a temporary directory to pull a registry image into, and could not create one. Check that \
                      `TMPDIR` (or /tmp) exists and is writable.",
    },
    Code {
        code: "E0514",
        title: "image not in the output directory",
        explanation: "Given a label, `dhib verify` checks the image `dhib build` wrote for it, as listed in `index.json` of the output \
                      directory (`dhib-out/`, or `--out DIR`), and this label is not there. Build it first, with the same \
                      `--out`:\n\n    dhib build //images/lua:lua",
    },
    // E06xx: Debian indexes and `dhib lock`.
    Code {
        code: "E0601",
        title: "cannot read a Packages index",
        explanation: "`dhib lock` could not read or decompress a Debian `Packages` index (plain, `.gz`, `.xz`, or `.lz4` through apt's \
                      `apt-helper`). Check the file given with `--index ARCH=FILE`, or refresh apt's lists with `apt-get update`.",
    },
    Code {
        code: "E0602",
        title: "no Packages index for an architecture",
        explanation: "`dhib lock` resolves each architecture of `[debian] arch` against a Packages index, and has none for this one. Pass \
                      one with `--index ARCH=FILE`, or add the architecture to \
                      apt:\n\n    dpkg --add-architecture arm64 && apt-get update",
    },
    Code {
        code: "E0603",
        title: "cannot resolve the Debian packages",
        explanation: "The packages listed in `[debian] packages` of dhi.toml, with their dependencies, cannot be resolved against the \
                      index: a package is missing, no version satisfies a dependency, or two requirements conflict. The message names the \
                      relation; check the package names and the index.",
    },
    Code {
        code: "E0604",
        title: "no file to lock into",
        explanation: "`dhib lock` writes `deb` targets into the file named by `[debian] lock` in dhi.toml, and none is set. Add \
                      one:\n\n    [debian]\n    lock = \"debian/BUILD.dhi\"",
    },
    Code {
        code: "E0605",
        title: "lock file outside the workspace",
        explanation: "`[debian] lock` in dhi.toml must be a workspace-relative path without `..` or a leading `/`, since `dhib lock` \
                      writes that file. Name a path inside the workspace, e.g. `lock = \"debian/BUILD.dhi\"`.",
    },
    Code {
        code: "E0606",
        title: "a source package not in the Sources index",
        explanation: "`dhib lock` pins each source package of `[debian.sources]` in dhi.toml from the suite's `Sources` index, and this \
                      one is not there, or its Build-Depends cannot be read. Check the name: it is the source package (`zlib`), not a \
                      binary package it builds (`zlib1g`), as `apt-cache showsrc zlib1g` shows.",
    },
    Code {
        code: "E0607",
        title: "binary and source versions disagree",
        explanation: "A binary package of the closure was built from another version of its source than the `Sources` index has, so \
                      rebuilding that source would not rebuild what Debian ships. Lock against a Packages and a Sources index of the \
                      same suite and date: refresh apt's lists (`apt-get update`) and run `dhib lock` again, or pass both with \
                      `--index` and `--sources`.",
    },
    Code {
        code: "E0608",
        title: "cannot get a verified Sources index",
        explanation: "With `[debian.sources]` in dhi.toml, `dhib lock` downloads `dists/SUITE/main/source/Sources.xz` from the Debian \
                      repository and checks it against the suite's `InRelease`, whose signature gpgv checks with Debian's archive \
                      keyring. A download failed, the signature did not verify, or the index does not match. Check `[debian] suite` and \
                      the network, or pass an index you trust:\n\n    dhib lock --sources Sources.xz",
    },
    // E07xx: image layouts, registries and `dhib publish`.
    Code {
        code: "E0701",
        title: "invalid publish destination",
        explanation: "`dhib publish` cannot push where it was asked: `--registry` is not `HOST[:PORT]/NAMESPACE`, an image at the \
                      workspace root has no namespace to go to, a repository name or tag is invalid, or two images would get the same \
                      repository and tag. Fix what the message names, e.g. `--registry ghcr.io/acme`, or choose a `--tag`.",
    },
    Code {
        code: "E0702",
        title: "no built images",
        explanation: "The output directory (`dhib-out/`, or `--out DIR`) has no readable `index.json` of built images, or no image in it \
                      matches a pattern. Build the images first, with the same `--out`:\n\n    dhib build //images/...",
    },
    Code {
        code: "E0703",
        title: "damaged image layout",
        explanation: "An OCI image layout dhib reads, usually one `dhib build` wrote, or the output directory's `index.json`, is missing \
                      a blob, is not valid JSON, or is not what dhib wrote. Rebuild the image with `dhib build PATTERN`.",
    },
    Code {
        code: "E0704",
        title: "registry request failed",
        explanation: "A request to a registry failed: the host could not be reached, answered with an error, sent content that does not \
                      match its digest, or rewrote a manifest. Check the host and the network; for a registry serving plain http, pass \
                      `--insecure`.",
    },
    Code {
        code: "E0705",
        title: "registry authentication failed",
        explanation: "The registry asked for credentials and dhib has none for it, it refused them (401 or 403), it asks for an \
                      authentication dhib does not speak, or the Docker config file is malformed. dhib reads credentials from \
                      $DOCKER_CONFIG/config.json or ~/.docker/config.json, as `docker login HOST` writes them; check that they are there, \
                      valid, and allowed to push.",
    },
    Code {
        code: "E0706",
        title: "cannot pull an image",
        explanation: "A registry image could not be pulled: the reference is malformed, the tag does not exist, or what came back is \
                      wrong. A `layers_from` reference must be pinned as `HOST/REPO@sha256:...`, and `dhib verify` also accepts \
                      `HOST/REPO:TAG`; for plain http, use `dhib verify --insecure` or list the host in DHIB_INSECURE_REGISTRIES.",
    },
    // E08xx: signing keys.
    Code {
        code: "E0801",
        title: "key file already exists",
        explanation: "`dhib keygen` refuses to replace an existing key: `PREFIX.key` or `PREFIX.pub` is already there. Pass `--force` to \
                      replace the pair, or `--output PREFIX` to write it elsewhere.",
    },
    Code {
        code: "E0802",
        title: "cannot make the key pair",
        explanation: "`dhib keygen` could not generate or write the key pair, e.g. because its directory is not writable or no random \
                      bytes were available. The message gives the reason.",
    },
    // E09xx: `dhib guard`, `dhib affected` and `dhib upstream`.
    Code {
        code: "E0901",
        title: "guard input does not exist",
        explanation: "`dhib guard OLD NEW [--vcs DIR]` compares two source trees, and one of the paths it was given does not exist. Name \
                      existing directories or archives.",
    },
    Code {
        code: "E0902",
        title: "cannot extract an archive",
        explanation: "`dhib guard` could not unpack OLD, NEW or `--vcs` as an archive. Each must be a directory, a tar archive (plain, \
                      gz, xz, bz2 or zst) or a zip archive; a corrupt archive, or one that unpacks to too much, also gives this error.",
    },
    Code {
        code: "E0903",
        title: "cannot read a source tree",
        explanation: "`dhib guard` could not read a file or directory of the trees it compares; the message names it. Check the \
                      permissions of the trees.",
    },
    Code {
        code: "E0911",
        title: "cannot check out the revision",
        explanation: "`dhib affected --since REV` extracts the workspace at REV with git, and git failed: it is not installed, the \
                      workspace is not in a git repository, or REV is not a revision of it. Use a revision such as `origin/main` or \
                      `HEAD~3`; in a shallow clone, fetch it first.",
    },
    Code {
        code: "E0912",
        title: "old revision does not analyse",
        explanation: "`dhib affected --since REV` compares keys with the workspace as it was at REV, and that workspace has errors, so it \
                      has no keys to compare. Choose a revision at which `dhib check` passes, or name the changed files with `--files`.",
    },
    Code {
        code: "E0952",
        title: "updated files do not analyse",
        explanation: "`dhib upstream update` rewrote the versions and pins of the sources it updates (and the versions of targets that \
                      follow them), and the workspace with those edits has errors, so nothing was written. The message gives the first \
                      problem; fix it, or move to another version with `--to VERSION`.",
    },
    Code {
        code: "E0953",
        title: "cannot write updated files",
        explanation: "`dhib upstream update` could not write a rewritten .dhi file or the update record kept beside it; the message names \
                      the file. Check its permissions; files written before the failure keep their new contents.",
    },
    // E10xx: `dhib scan` and `dhib compare`.
    Code {
        code: "E1001",
        title: "cannot read the vulnerability database",
        explanation: "`--db PATH` names an OSV database: an `all.zip` as osv.dev publishes one per ecosystem, or a directory of OSV \
                      JSON records. The file is missing, is not a zip archive of records, or a record in it is not valid OSV JSON; \
                      the message names which. Download one for Debian with:\n\n    curl -LO \
                      https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip",
    },
    Code {
        code: "E1002",
        title: "no SBOM to scan",
        explanation: "`dhib scan` and `dhib compare` read what an image contains from its SBOM: the CycloneDX or SPDX attestation \
                      dhib attaches to every image it builds, or an SBOM file named on the command line. The target has none, or \
                      it is not a CycloneDX or SPDX JSON document. Build the image with dhib, or name its SBOM file.",
    },
    Code {
        code: "E1003",
        title: "an attestation does not verify",
        explanation: "An image's attestations are read only when their DSSE signatures verify with the public key and their \
                      subject is the image, so a tampered SBOM cannot hide a package and a forged VEX statement cannot hide a \
                      vulnerability. Name the key that signed the image with `--key FILE`; if it is the right key, the image or \
                      its attestations were changed after signing.",
    },
    Code {
        code: "E1004",
        title: "cannot read a VEX document",
        explanation: "A document given with `--vex FILE`, or the image's own VEX attestation, is not an OpenVEX JSON document \
                      (its `@context` must start with https://openvex.dev/ns), or one of its statements has no `status`.",
    },
    Code {
        code: "E1005",
        title: "not an image",
        explanation: "`dhib verify` and `dhib compare` work on images, and the reference names a file. Name an image by its label \
                      (of an image `dhib build` wrote), its OCI layout directory, or its registry reference. `dhib scan` also \
                      takes an SBOM file.",
    },
];
