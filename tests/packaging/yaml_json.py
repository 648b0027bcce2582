"""Prints every YAML document of the given files as one JSON array (tests/packaging.rs reads
it). With --schema, first validates each document against that JSON schema and exits 1
listing every violation. Runs with the venv python that scripts/install-deps.sh makes
(pyyaml, jsonschema)."""

import argparse
import json
import sys

import jsonschema
import yaml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schema", help="JSON schema every document must satisfy")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    documents = []
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            documents.extend((path, d) for d in yaml.safe_load_all(f) if d is not None)

    if args.schema:
        with open(args.schema, encoding="utf-8") as f:
            schema = json.load(f)
        # docker-compose 1.29.2's compose_spec.json declares draft 2019-09 under a URI that
        # jsonschema does not recognise ("http://json-schema.org/draft/2019-09/schema#").
        if "draft/2019-09" in schema.get("$schema", ""):
            validator_class = jsonschema.Draft201909Validator
        else:
            validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        validator = validator_class(schema)
        errors = [
            f"{path}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for path, document in documents
            for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
        ]
        if errors:
            print("\n".join(errors), file=sys.stderr)
            return 1

    json.dump([d for _, d in documents], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
