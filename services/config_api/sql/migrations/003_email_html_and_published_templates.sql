-- E-mail templates get an HTML body beside the text one, and the config API publishes them to
-- the executor through a view (the executor never reads email_templates itself).
--
-- body is the plain-text body. html_body is the HTML body; when it is null the executor sends
-- the text body as HTML too (escaped, line breaks kept), so every message has both parts.
ALTER TABLE email_templates ADD COLUMN IF NOT EXISTS html_body text;

-- The config API's published contract: schema config_api_published holds what other services
-- may read of its tables. Columns keep their names and meanings and are only added at the end.
CREATE SCHEMA IF NOT EXISTS config_api_published;

-- A tenant's named templates: the executor renders subject, text_body and html_body (null:
-- none, derive it from text_body) with the workflow template syntax and the event's data.
CREATE OR REPLACE VIEW config_api_published.email_templates AS
SELECT tenant_id, name, subject, body AS text_body, html_body, updated_at
FROM email_templates;
