"""python -m gaa_mlops.deploy model=ssd deploy=ssh deploy.host=HOST [version=N] [action=rollback] [dry_run=true]"""
from gaa_mlops.deploy.cli import main

if __name__ == "__main__":
    main()
