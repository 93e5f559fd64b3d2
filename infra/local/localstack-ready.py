# LocalStack init hook (mounted by compose.yaml into /etc/localstack/init/ready.d/): once LocalStack
# is ready, create Gavel's resources with infra/local/bootstrap.py. LocalStack executes this file
# inside its own Python interpreter, which has boto3.
import importlib.util
import os

_spec = importlib.util.spec_from_file_location("gavel_bootstrap", "/opt/gavel/bootstrap.py")
_bootstrap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bootstrap)
if _bootstrap.main(["--endpoint-url", os.environ.get("GAVEL_BOOTSTRAP_ENDPOINT", "http://localhost:4566")]) != 0:
    raise SystemExit("gavel bootstrap failed")
