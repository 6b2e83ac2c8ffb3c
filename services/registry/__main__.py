from services.registry.bootstrap import create_app
from services.registry.settings import RegistrySettings
from shared.runtime import serve

settings = RegistrySettings()
serve(create_app(settings), "registry", settings)
