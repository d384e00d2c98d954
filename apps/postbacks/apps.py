from django.apps import AppConfig


class PostbacksConfig(AppConfig):
    name = "apps.postbacks"
    label = "postbacks"
    verbose_name = "Postbacks"
