#!/usr/bin/env bash
# Adds a migration for both store providers after a change to the EF model:
#   scripts/add-migration.sh AddJobs
# Needs the dotnet-ef tool (dotnet tool install --global dotnet-ef --version 10.0.15).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/add-migration.sh NAME}
export PATH="$PATH:$HOME/.dotnet/tools"
for provider in Sqlite Postgres; do
  dotnet ef migrations add "$name" --project src/Headroom.Store --startup-project src/Headroom.Store \
    --context "${provider}HeadroomDb" --output-dir "Migrations/$provider" --namespace "Headroom.Store.Migrations.$provider"
  # dotnet-ef writes the model snapshot under a folder named after its namespace; keep it beside the migrations.
  if [ -d src/Headroom.Store/Headroom ]; then
    find src/Headroom.Store/Headroom -name "*ModelSnapshot.cs" -exec mv {} "src/Headroom.Store/Migrations/$provider/" \;
    rm -rf src/Headroom.Store/Headroom
  fi
done
