from services.processing.bootstrap import create_app
from services.processing.settings import ProcessingSettings
from shared.runtime import serve

settings = ProcessingSettings()
serve(create_app(settings), "processing", settings)
