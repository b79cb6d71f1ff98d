#!/usr/bin/env bash
# Make a team's own project template from scaffold's: copy copier.yml, templates/ and the engine
# scaffold/ (the code that renders them: each template version carries its own), apply the team's
# changes (team.patch), and commit and tag the result in a new git repository, from which
# `scaffold new --template` generates projects that `scaffold update` can later update.
#
#   examples/team-template/customize.sh [SCAFFOLD_CHECKOUT [DEST]]
#
# SCAFFOLD_CHECKOUT: a scaffold checkout (default: the repository this script is in).
# DEST: the new template repository (default: ./team-template); it must not exist or be empty.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${1:-$(cd "$here/../.." && pwd)}
dest=${2:-team-template}
tag=${TEAM_TEMPLATE_TAG:-v1.0.0}

fail() { echo "customize.sh: $*" >&2; exit 2; }

[ -f "$src/copier.yml" ] && [ -d "$src/templates" ] && [ -f "$src/scaffold/copier_extension.py" ] ||
    fail "$src is not a scaffold checkout (it has no copier.yml, templates/ and scaffold/copier_extension.py)"
if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
    fail "$dest already exists and is not empty; choose a new folder"
fi
command -v git >/dev/null || fail "git is needed: copier updates projects from git tags"

# 1. The template as scaffold ships it: copier.yml at the root (with `_subdirectory: templates`),
#    because copier records template versions only for the root of a git repository, and the
#    engine scaffold/ beside it (copier.yml loads scaffold/copier_extension.py by its path).
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
cp "$src/copier.yml" "$dest/"
cp -R "$src/templates" "$dest/templates"
cp -R "$src/scaffold" "$dest/scaffold"
# The team's own block kinds: plain PyTorch modules (NAME.py) and blocks in the blueprint language
# (NAME.yaml) in blocks/ beside copier.yml (see README.md, "Blocks of your own").
mkdir -p "$dest/blocks"
find "$here/blocks" -maxdepth 1 -type f \( -name '*.py' -o -name '*.yaml' \) -exec cp {} "$dest/blocks/" \;
rm -rf "$dest/scaffold/_template"
find "$dest/templates" "$dest/scaffold" "$dest/blocks" -name __pycache__ -prune -exec rm -rf {} +
printf '__pycache__/\n*.py[cod]\n' > "$dest/.gitignore"

cd "$dest"
git init -q
# Commit even on a machine without a git identity (a CI runner, a fresh container).
git config user.name >/dev/null || export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-team-template} \
    GIT_COMMITTER_NAME=${GIT_COMMITTER_NAME:-team-template}
git config user.email >/dev/null || export GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-team-template@localhost} \
    GIT_COMMITTER_EMAIL=${GIT_COMMITTER_EMAIL:-team-template@localhost}
scaffold_version=$(git -C "$src" describe --tags --always 2>/dev/null || echo unknown)
git add -A
git commit -q --no-verify --no-gpg-sign -m "scaffold's project template, as of scaffold $scaffold_version"

# 2. The team's changes, kept as one reviewable patch (a second commit, so that a later
#    `git diff HEAD~1` shows exactly what the team changed).
git apply --whitespace=nowarn "$here/team.patch" ||
    fail "team.patch does not apply to this scaffold version's template; update the patch ($dest holds the template without it)"
cat > README.md <<TEXT
# ACME vision project template

scaffold's project template (scaffold $scaffold_version) with the vision team's changes
(team.patch in scaffold's examples/team-template). Generate a project with

    scaffold new --template $dest --trust --blueprint BLUEPRINT DEST

Change the template, commit, and tag a new version (git tag v1.1.0): projects pick it up with
\`scaffold update --trust PROJECT\` (--trust: the template runs its own code;
or list it under trust: in copier's settings.yml).
TEXT
git add -A
git commit -q --no-verify --no-gpg-sign -m "ACME vision team: CODEOWNERS, team README section, SLURM defaults"

# 3. A version: copier updates projects from one tag to a newer one (PEP 440 order).
git tag "$tag"

echo "Team template ready in $dest (tag $tag). Generate projects with:"
echo "  scaffold new --template $dest --trust --blueprint lenet myproj"
echo "Publish it (git remote add origin URL && git push origin HEAD --tags) and use the URL instead."
