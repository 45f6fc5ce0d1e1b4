"""The scrubber that runs before anything is written to a fine-tuning file.

The corpus is (input, expected output) pairs, positives and negatives for every kind;
the negatives are mostly policy sentences whose numbers must survive untouched.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from pathlib import Path

import pytest

from eval.finetune.scrub import SCRUBBER_VERSION, Scrubber, ScrubResult
from eval.finetune.scrub._names import _NAMELIKE_WORDS

# Grant Holiday: both parts are ordinary words, scrubbed alone only where capitalised as a name.
NAMES = ("Alice Example", "Will Smith", "José Álvarez-Núñez", "priya", "Grant Holiday")
SCRUBBER = Scrubber(names=NAMES)
POLICIES = Path(__file__).resolve().parent.parent / "samples" / "policies"

# (id, input, expected)
EMAIL = [
    ("email-plain", "Send it to alice.example@example.com please.", "Send it to [EMAIL] please."),
    ("email-plus", "Use alice+expenses@example.com for receipts", "Use [EMAIL] for receipts"),
    ("email-subdomain-upper", "CC ALICE.EXAMPLE@HR.EU.EXAMPLE.COM", "CC [EMAIL]"),
    ("email-parens", "(payroll-team@example.co.uk)", "([EMAIL])"),
    (
        "email-slack-mailto",
        "Mail <mailto:bob@example.org|bob@example.org> today",
        "Mail <mailto:[EMAIL]|[EMAIL]> today",
    ),
    ("email-sentence-end", "Ask hr@example.com.", "Ask [EMAIL]."),
    ("email-not-version-file", "Upgrade to v2.0 and attach file.pdf", None),
    ("email-not-at-channel", "@channel please read the updated travel policy", None),
    ("email-not-handle", "Ping @hr-team or @it.helpdesk in Slack", None),
]

PHONE = [
    ("phone-uk-intl", "Call +44 20 7946 0958 today", "Call [PHONE] today"),
    ("phone-us-intl-dashes", "Call +1-415-555-0132.", "Call [PHONE]."),
    ("phone-de-00", "Reach me on 0049 30 1234567", "Reach me on [PHONE]"),
    ("phone-us-parens", "My desk is (415) 555-0132", "My desk is [PHONE]"),
    ("phone-uk-national", "Ring 020 7946 0958 after 5", "Ring [PHONE] after 5"),
    ("phone-nl-mobile", "whatsapp 06-12345678", "whatsapp [PHONE]"),
    ("phone-trunk-in-parens", "+44 (0)20 7946 0958", "[PHONE]"),
    ("phone-extension", "+1 415 555 0132 ext. 204 is my line", "[PHONE] is my line"),
    ("phone-us-dots", "415.555.0132", "[PHONE]"),
    ("phone-tollfree", "toll free 1-800-555-0199", "toll free [PHONE]"),
    ("phone-fr-spaces", "01 23 45 67 89", "[PHONE]"),
    ("phone-fr-dots", "06.12.34.56.78", "[PHONE]"),
    ("phone-contiguous", "text 0612345678 if urgent", "text [PHONE] if urgent"),
    ("phone-uk-mobile", "Call me on 07700 900123 after 5pm", "Call me on [PHONE] after 5pm"),
    ("phone-labelled", "my mobile is 415 555 0132", "my mobile is [PHONE]"),
    ("phone-labelled-short", "Tel: 555 0132", "Tel: [PHONE]"),
    ("phone-ext-alone", "I'm on ext. 4321 all day", "I'm on [PHONE] all day"),
    ("phone-de-trunk-parens", "Tel.: +49 (0)30 1234 5678", "Tel.: [PHONE]"),
    ("phone-intl-contiguous", "text me on +4915112345678 or +31612345678", "text me on [PHONE] or [PHONE]"),
    ("phone-call-label", "call 555-0132 when you land", "call [PHONE] when you land"),
    ("phone-us-country-parens", "dial +1 (415) 555-0132", "dial [PHONE]"),
    ("phone-not-iso-date", "The policy takes effect on 2026-03-01.", None),
    ("phone-not-date-time", "Submit by 01/03/2026 at 17:30.", None),
    ("phone-not-hours", "Core hours are 10:00 to 15:00 in your local time zone.", None),
    (
        "phone-not-claims",
        "Claims over 1,500 EUR need approval within 30 days (section 4.2).",
        None,
    ),
    ("phone-not-money", "The limit is $2,000.00 per trip, or 1.500,00 EUR in Germany.", None),
    ("phone-not-percent", "Employees contribute 5% and the employer 7.5% of salary.", None),
    ("phone-not-versions", "Upgrade the client to 1.17.0 (v2) before 2026.", None),
    ("phone-not-leave", "You get 20 working days of leave and 12 weeks of parental leave.", None),
    ("phone-not-hours-count", "Report breaches to the DPO within 72 hours.", None),
    ("phone-not-sections", "See section 4.2.1 and clause 12.3 of the handbook.", None),
    ("phone-not-years", "Financial year 2025/2026 and the 2024-2025 budget.", None),
    ("phone-not-spaced-thousands", "The budget is 1 500 000 EUR for 2026.", None),
    ("phone-not-standards", "ISO/IEC 27001:2022 and NIST SP 800-53 Rev. 5 apply.", None),
    ("phone-not-regulation", "Regulation (EU) 2016/679 (GDPR), Article 6(1)(f).", None),
    ("phone-not-emergency", "Call 112 in an emergency, then your manager.", None),
    ("phone-not-allowance", "A phone allowance of 30 EUR per month applies.", None),
    ("phone-not-date-range", "Between 2026-03-01 and 2026-06-30 inclusive.", None),
    ("phone-not-dotted-date", "Dated 01.03.2026, reference 2026-0042.", None),
    ("phone-not-meeting", "Meeting 09:30-10:45 on 12.03.2026 in room 4.12.", None),
    ("phone-not-invoice-total", "Invoice total: 12,345,678.90 EUR, paid in 3 instalments.", None),
    ("phone-not-retention", "Keep records for 7 years (84 months) after 31 December.", None),
    ("phone-not-date-time-iso", "Logged at 2026-03-01 10:15:00 UTC by the bot.", None),
    ("phone-not-call-time-range", "Join the call 10.00-11.30 CET on Monday.", None),
    ("phone-not-salary-band", "Salary band 45,000-60,000 GBP or 45 000 - 60 000 EUR.", None),
    ("phone-not-list", "Items 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 and scores 0 10 20 30 40 50.", None),
    ("phone-not-rate", "From 1 April 2026 the rate rises from 0.25 to 0.30 EUR/km (up to 10,000 km).", None),
    ("phone-not-tax-forms", "The 2025/26 tax year: P60 by 31 May, P11D by 6 July 2026.", None),
    ("phone-not-isbn-ref", "ISBN 978-3-16-148410-0, claim ref 2026-000123-45, build 20240315.", None),
    ("phone-not-ratios", "90/10 split, 24/7 support, 1:1 meetings, 3x per week.", None),
]

SECRET = [
    (
        "secret-slack-bot",
        "SLACK_BOT_TOKEN=xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "SLACK_BOT_TOKEN=[SECRET]",
    ),
    ("secret-slack-user", "my token xoxp-1234567890-0987654321-abcdef123456", "my token [SECRET]"),
    ("secret-slack-xoxa", "xoxa-2-1234567890-abcdefABCDEF", "[SECRET]"),
    ("secret-slack-app", "app token xapp-1-A0123ABCD-1234567890-abcdef0123", "app token [SECRET]"),
    ("secret-slack-refresh", "xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTA", "[SECRET]"),
    (
        "secret-slack-webhook",
        "posting to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX now",
        "posting to [SECRET] now",
    ),
    (
        "secret-anthropic",
        "ANTHROPIC_API_KEY: sk-ant-api03-AbCdEfGh1234567890_IjKlMnOpQrStUv-wxyz",
        "ANTHROPIC_API_KEY: [SECRET]",
    ),
    ("secret-openai", "key sk-proj-abc123DEF456ghi789JKL0mno", "key [SECRET]"),
    ("secret-aws-key-id", "AWS AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A", "AWS [SECRET] and [SECRET]"),
    (
        "secret-aws-secret",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = [SECRET]",
    ),
    ("secret-github-ghp", "ghp_1234567890abcdefghijABCDEFGHIJ123456", "[SECRET]"),
    ("secret-github-gho", "token gho_16C7e42F292c6912E7710c838347Ae178B4a", "token [SECRET]"),
    (
        "secret-github-pat",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        "[SECRET]",
    ),
    ("secret-google", "maps key AIzaSyA1234567890abcdefghijklmnopqrstuv works", "maps key [SECRET] works"),
    (
        "secret-jwt",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U here",
        "token [SECRET] here",
    ),
    ("secret-bearer", "Authorization: Bearer abc123def456ghi789", "Authorization: Bearer [SECRET]"),
    ("secret-bearer-bare", "curl with bearer 9f8e7d6c5b4a39281706", "curl with bearer [SECRET]"),
    ("secret-basic-auth", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [SECRET]"),
    (
        "secret-pem",
        "here:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234abcd\nAbCdEf0123456789+/==\n"
        "-----END RSA PRIVATE KEY-----\nthanks",
        "here:\n[SECRET]\nthanks",
    ),
    (
        "secret-pem-cut-off",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE\nthat's all I have",
        "[SECRET]\nthat's all I have",
    ),
    ("secret-password-eq", "login with password=hunter2 then", "login with password=[SECRET] then"),
    (
        "secret-password-json",
        '{"user": "svc", "password": "correct horse battery"}',
        '{"user": "svc", "password": "[SECRET]"}',
    ),
    ("secret-pwd-colon", "pwd: letmein", "pwd: [SECRET]"),
    ("secret-pwd-eq", "mysql -u app pwd=Tr0ub4dor&3", "mysql -u app pwd=[SECRET]"),
    (
        "secret-bearer-jwt",
        "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJhYmMifQ.c2lnbmF0dXJlLXNpZw",
        "Authorization: Bearer [SECRET]",
    ),
    (
        "secret-teams-webhook",
        "Webhook: https://contoso.webhook.office.com/webhookb2/a1b2c3@d4e5/IncomingWebhook/f6g7/h8i9",
        "Webhook: [SECRET]",
    ),
    ("secret-env-password", "DB_PASSWORD=S3cr3t! in .env", "DB_PASSWORD=[SECRET] in .env"),
    ("secret-password-is", "my new password is Summer2024! ok?", "my new password is [SECRET] ok?"),
    ("secret-password-is-now", "the password is now Welcome2026", "the password is now [SECRET]"),
    ("secret-pin", "PIN: 4821 for the door", "PIN: [SECRET] for the door"),
    ("secret-password-colon-tokenish", "Password: Welcome123.", "Password: [SECRET]."),
    ("secret-client-secret", "client_secret: abcDEF123", "client_secret: [SECRET]"),
    (
        "secret-url-credentials",
        "postgres://admin:S3cr3t@db.internal.example.com:5432/app",
        "postgres://[SECRET]@db.internal.example.com:5432/app",
    ),
    (
        "secret-url-sig",
        "https://files.example.com/r.pdf?sig=AbC123%2Fxyz&se=2026-01-01&sv=2021-08-06",
        "https://files.example.com/r.pdf?sig=[URL_TOKEN]&se=2026-01-01&sv=2021-08-06",
    ),
    (
        "secret-url-token-code",
        "https://sso.example.com/cb?code=4/0AbCd&state=xyz&access_token=ya29.a0AfH6",
        "https://sso.example.com/cb?code=[URL_TOKEN]&state=xyz&access_token=[URL_TOKEN]",
    ),
    (
        "secret-url-key",
        "https://maps.example.com/api?key=AIzaSyA1234567890abcdefghijklmnopqrstuv&q=office",
        "https://maps.example.com/api?key=[URL_TOKEN]&q=office",
    ),
    (
        "secret-high-entropy",
        "the value is Zx8Qm2Lp9Rt4Vw7Ny3Kb6Hc1Jd5Fg0Ts8Ue2Wa",
        "the value is [SECRET]",
    ),
    ("secret-hex-no-context", "api key 9b74c9897bac770ffc029102a200c5de", "api key [SECRET]"),
    ("secret-not-passwords-policy", "Passwords must be at least 14 characters long.", None),
    ("secret-not-password-colon-prose", "Password: at least 14 characters, rotated every 90 days.", None),
    ("secret-not-password-is-personal", "Your password is personal and must never be shared.", None),
    ("secret-not-password-to-expire", "Set the password to expire after 90 days.", None),
    ("secret-not-bearer-prose", "Bearer authentication is used for the HR API.", None),
    ("secret-not-token-prose", "The token is valid for 8 hours; token: see the IT portal.", None),
    ("secret-not-authorization-prose", "Authorization: required for all admin systems.", None),
    ("secret-not-commit", "Fixed in commit 3f786850e387550fdab836ed7d6dc881de23001b last week.", None),
    (
        "secret-not-sha256",
        "sha256 checksum e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        None,
    ),
    ("secret-not-short-hash", "Reverted 3f78685 and a1b2c3d in the changelog.", None),
    ("secret-not-path", "/srv/supportbot/exports/travel-and-expenses-policy-2025-v2-final.jsonl", None),
    ("secret-not-long-slug", "internationalisation-and-localisation-guidelines-for-engineering-2026", None),
    ("secret-not-camelcase", "ThisIsAVeryLongCamelCaseIdentifierForThePolicyLoader", None),
    ("secret-not-long-word", "Pneumonoultramicroscopicsilicovolcanoconiosis is long.", None),
    ("secret-not-plain-url", "https://intranet.example.com/policies/expenses?lang=en&page=2", None),
    ("secret-not-task-key", "The task-force keeps the key-value store.", None),
]

CHAT = [
    ("chat-slack-user", "<@U012ABCDEF> can you approve?", "[USER] can you approve?"),
    ("chat-slack-enterprise-user", "thanks <@W012A3CDE>!", "thanks [USER]!"),
    ("chat-slack-user-label", "<@U123|alice> said yes", "[USER] said yes"),
    ("chat-slack-channel", "see <#C0123ABC|general>", "see [CHANNEL]"),
    ("chat-slack-channel-no-label", "posted in <#C0123ABC>", "posted in [CHANNEL]"),
    ("chat-slack-broadcast", "<!channel> and <!here|here> please read", "@channel and @here please read"),
    (
        "chat-slack-everyone",
        "<!everyone> the office is closed on 2026-04-03",
        "@everyone the office is closed on 2026-04-03",
    ),
    ("chat-slack-subteam", "ask <!subteam^S0123ABC|@hr-team>", "ask [USER]"),
    ("chat-slack-subteam-short", "<!subteam^S123|@hr> and <@U123|alice>", "[USER] and [USER]"),
    ("chat-slack-bare-ids", "user U024BE7LH asked in C024BE91L", "user [USER] asked in [CHANNEL]"),
    (
        "chat-slack-permalink",
        "https://acme.slack.com/archives/C024BE91L/p1712345678123456",
        "https://acme.slack.com/archives/[CHANNEL]/p1712345678123456",
    ),
    ("chat-teams-at", "<at>Alice Example</at> can you check?", "[USER] can you check?"),
    ("chat-teams-at-id", '<at id="0">Bob</at> hi', "[USER] hi"),
    ("chat-teams-user-id", "from 29:1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "from [USER]"),
    ("chat-teams-orgid", "8:orgid:6f1c2a3b-1234-4cde-8f00-123456789abc sent it", "[USER] sent it"),
    (
        "chat-teams-aad-object-id",
        '"aadObjectId": "6f1c2a3b-1234-4cde-8f00-123456789abc"',
        '"aadObjectId": "[USER]"',
    ),
    (
        "chat-teams-conversation",
        "in 19:abcDEF0123456789abcdef0123456789@thread.tacv2",
        "in [CHANNEL]",
    ),
    ("chat-uuid", "request 123e4567-e89b-12d3-a456-426614174000 failed", "request [ID] failed"),
    ("chat-not-caps", "CONFIDENTIAL: DEPARTMENT HEADS ONLY", None),
    ("chat-not-codes", "Forms W8BEN and P11D, GDPR, HIPAA and SOC2 apply.", None),
    ("chat-not-doc-ids", "ISO27001 and CCPART1V3.1R3.pdf", None),
    ("chat-not-score", "It ended 29:12 at 10:30.", None),
]

IP = [
    ("ip-private", "the server 10.0.0.12 is down", "the server [IP] is down"),
    ("ip-sentence-end", "my laptop has 192.168.1.23.", "my laptop has [IP]."),
    ("ip-cidr", "allow 172.16.0.0/12", "allow [IP]/12"),
    ("ip-v6", "from 2001:db8::8a2e:370:7334 today", "from [IP] today"),
    ("ip-not-version", "Install version 1.17.0 or 2.0.1.", None),
    ("ip-not-section", "See section 4.2.1.3 and 4.2.1.4 of the policy.", None),
    ("ip-not-time", "Logged in at 10:30:00.", None),
    ("ip-not-build", "Windows 10.0.19045.3803 is required.", None),
]

CARD_IBAN = [
    ("card-spaces", "card 4111 1111 1111 1111 was charged", "card [CARD] was charged"),
    ("card-dashes", "4111-1111-1111-1111", "[CARD]"),
    ("card-contiguous", "Mastercard 5500005555555559.", "Mastercard [CARD]."),
    ("card-amex", "Amex 3782 822463 10005", "Amex [CARD]"),
    ("card-not-luhn", "card 4111 1111 1111 1112", None),
    ("card-not-order-number", "Order 1234567890123 shipped.", None),
    ("card-not-last-digits", "Her card ending 1111, CVV 123, expires 12/27.", None),
    ("iban-de", "IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN] please"),
    ("iban-gb-compact", "GB82WEST12345698765432", "[IBAN]"),
    ("iban-nl", "to NL91ABNA0417164300.", "to [IBAN]."),
    ("iban-fr-then-word", "FR14 2004 1010 0505 0001 3M02 606 ASAP", "[IBAN] ASAP"),
    ("iban-not-bad-check", "GB82 WEST 1234 5698 7654 33", None),
    ("iban-not-short", "DE89 3704 is not an IBAN", None),
]

EMPLOYEE = [
    ("employee-id", "employee id 123456 here", "employee id [EMPLOYEE_ID] here"),
    ("employee-staff-no", "staff no. E12345", "staff no. [EMPLOYEE_ID]"),
    ("employee-number-is", "My employee number is 00482913.", "My employee number is [EMPLOYEE_ID]."),
    ("employee-personnel", "Personnel No: P-004821", "Personnel No: [EMPLOYEE_ID]"),
    ("employee-not-badges", "Employee ID badges must be worn at all times.", None),
    ("employee-not-count", "The staff number grew by 12 percent.", None),
]

NAME = [
    ("name-given", "Alice Example asked about parental leave.", "[NAME] asked about parental leave."),
    ("name-given-upper", "ALICE EXAMPLE", "[NAME]"),
    ("name-given-lower", "alice example wrote", "[NAME] wrote"),
    ("name-given-linebreak", "Alice\nExample", "[NAME]"),
    ("name-given-part", "Thanks Alice!", "Thanks [NAME]!"),
    ("name-given-reversed", "Example, Alice", "[NAME], [NAME]"),
    ("name-given-possessive", "Alice's manager", "[NAME]'s manager"),
    ("name-given-common-first", "Will Smith approved; Smith agreed.", "[NAME] approved; [NAME] agreed."),
    ("name-given-accents", "ask José Álvarez-Núñez or Álvarez-Núñez", "ask [NAME] or [NAME]"),
    ("name-given-single-any-case", "ask priya or Priya", "ask [NAME] or [NAME]"),
    ("name-my-name-is", "Hi, my name is Jane Doe and I need help.", "Hi, my name is [NAME] and I need help."),
    (
        "name-im-from",
        "I'm Carlos Ruiz from Sales, where do I submit expenses?",
        "I'm [NAME] from Sales, where do I submit expenses?",
    ),
    (
        "name-this-is-then-again",
        "Hello, this is Mei Chen. Who approves travel? Thanks, Mei",
        "Hello, this is [NAME]. Who approves travel? Thanks, [NAME]",
    ),
    ("name-i-am-common-surname", "I am Tom Baker, the new starter.", "I am [NAME], the new starter."),
    ("name-not-lowercase-part", "alice in wonderland is not a policy", None),
    ("name-not-will", "Will you approve my leave? It will be fine.", None),
    ("name-not-role", "This is Data Protection Officer guidance.", None),
    ("name-not-hr-role", "I'm HR Business Partner for Finance.", None),
    ("name-not-roles", "Contact your HR Business Partner or the Data Protection Officer.", None),
    ("name-not-mandatory", "This is Mandatory for all staff.", None),
    ("name-not-title", "See the Travel and Expenses Policy, section 3.", None),
    ("name-not-im-in", "I'm in Finance and I'm Not sure.", None),
    ("name-not-going", "I'm Going to lunch. I'm Back. Sorry, I'm Late!", None),
    ("name-my-name-s", "My name's Ola Nordmann.", "My name's [NAME]."),
    ("name-this-is-common-name", "I'm Will Grant from IT", "I'm [NAME] from IT"),
    (
        "name-intro-contact-brackets",
        "Hi, I'm Jane Doe (jane.doe@acme.com, phone +44 7700 900123). How many days can I work abroad?",
        "Hi, I'm [NAME] ([EMAIL], phone [PHONE]). How many days can I work abroad?",
    ),
    (
        "name-intro-dash",
        "I'm Jane Doe - HR asked me to check the leave policy",
        "I'm [NAME] - HR asked me to check the leave policy",
    ),
    (
        "name-intro-em-dash",
        "I'm Omar Haddad — quick question on travel",
        "I'm [NAME] — quick question on travel",
    ),
    ("name-not-dash-word", "I'm Out - back on Monday", None),
    # Grant Holiday: a full name always goes; an ordinary word alone only as a name.
    ("name-common-full", "Grant Holiday asked about carry-over.", "[NAME] asked about carry-over."),
    ("name-common-full-any-case", "ping grant\n  HOLIDAY today", "ping [NAME] today"),
    ("name-common-first-alone", "ask Grant about it", "ask [NAME] about it"),
    (
        "name-common-greeting",
        "Hi Grant, can Holiday sign it? Thanks Grant!",
        "Hi [NAME], can [NAME] sign it? Thanks [NAME]!",
    ),
    ("name-common-honorific", "Mr. Holiday approved it.", "Mr. [NAME] approved it."),
    ("name-common-new-line-after", "please ask Grant\nThanks", "please ask [NAME]\nThanks"),
    ("name-not-common-sentence-start", "Holiday entitlement is 25 days. Grant requests go to HR.", None),
    ("name-not-common-lowercase", "the grant was approved for holiday cover", None),
    ("name-not-common-line-start", "- Holiday: 25 days\n2. Grant funding: see Finance", None),
    ("name-not-common-title", "See the Holiday Pay Policy and the Annual Holiday rules.", None),
    ("name-not-common-title-first", "The Grant Application Form is due. Funeral Grant \nof $500.", None),
    ("name-not-common-joined", "Holiday-pay and the Grant-funded posts of the Grant 2025 round", None),
]

MIXED = [
    (
        "mixed-question",
        "Hi <@U012ABCDEF>, I'm Jane Doe from Finance (jane.doe@example.com, +44 20 7946 0958). "
        "My card 4111 1111 1111 1111 was charged 1,500 EUR on 2026-03-01; can I claim it under section 4.2?",
        "Hi [USER], I'm [NAME] from Finance ([EMAIL], [PHONE]). "
        "My card [CARD] was charged 1,500 EUR on 2026-03-01; can I claim it under section 4.2?",
    ),
    (
        "mixed-it-ticket",
        "Set DB_PASSWORD=S3cr3t! on 10.1.2.3 and mail ops@example.com by 17:00",
        "Set DB_PASSWORD=[SECRET] on [IP] and mail [EMAIL] by 17:00",
    ),
    (
        "mixed-policy-passage",
        "Expenses over 1,500 EUR require director approval within 30 days; see section 4.2.1 "
        "(v2, effective 2026-03-01). Meals are reimbursed up to 60 EUR per day, hotels up to 180 EUR.",
        None,
    ),
    (
        "mixed-policy-leave",
        "The birth parent receives 20 weeks of fully paid leave; the second parent 12 weeks. "
        "During the first month back, parents may work 60 percent of their hours at full pay.",
        None,
    ),
    (
        "mixed-policy-security",
        "SEV1 incidents are paged within 15 minutes; personal data breaches go to the Data Protection "
        "Officer within 24 hours so the authority can be notified within 72 hours (Art. 33).",
        None,
    ),
    (
        "mixed-bot-answer",
        "Per the Remote Work policy (version 2, effective 2026-03-02), you may work abroad for up to "
        "20 working days per calendar year; equipment up to 400 EUR every three years [1].",
        None,
    ),
    (
        "mixed-teams-question",
        "<at>Support Bot</at> I'm Priya Patel, employee id 482913, IBAN NL91ABNA0417164300 — is the "
        "home-office allowance (400 EUR) paid in March?",
        "[USER] I'm [NAME], employee id [EMPLOYEE_ID], IBAN [IBAN] — is the "
        "home-office allowance (400 EUR) paid in March?",
    ),
]

CORPUS = EMAIL + PHONE + SECRET + CHAT + IP + CARD_IBAN + EMPLOYEE + NAME + MIXED


def test_corpus_is_large_and_ids_unique() -> None:
    ids = [case[0] for case in CORPUS]
    assert len(ids) == len(set(ids))
    assert len(CORPUS) >= 80
    assert sum(expected is None for _, _, expected in CORPUS) >= 40  # negatives


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_corpus(text: str, expected: str | None) -> None:
    assert SCRUBBER(text) == (text if expected is None else expected)


@pytest.mark.parametrize("text", [c[1] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_idempotent(text: str) -> None:
    once = SCRUBBER.scrub(text)
    twice = SCRUBBER.scrub(once.text)
    assert twice.text == once.text
    assert twice.counts == {}


def test_idempotent_on_mixed_texts() -> None:
    rng = random.Random(7)
    texts = [c[1] for c in CORPUS]
    for _ in range(300):
        text = " ".join(rng.sample(texts, 3))
        once = SCRUBBER(text)
        assert SCRUBBER(once) == once


def test_counts_per_kind() -> None:
    result = SCRUBBER.scrub(
        "Alice Example (alice@example.com, bob@example.com, +44 20 7946 0958) pasted "
        "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx in <#C0123ABC|general>, "
        "https://x.example.com/?token=abc123 from 10.0.0.12"
    )
    assert result.counts == {
        "name": 1,
        "email": 2,
        "phone": 1,
        "secret": 1,
        "channel": 1,
        "url_token": 1,
        "ip": 1,
    }
    assert isinstance(result, ScrubResult)


def test_clean_text_has_no_counts() -> None:
    text = "Claims over 1,500 EUR need approval within 30 days (section 4.2)."
    assert SCRUBBER.scrub(text) == ScrubResult(text, {})


def test_placeholders_in_input_are_kept_and_not_counted() -> None:
    text = "Dear [NAME], your [EMAIL] and [PHONE] were removed; [SOMETHING] stays."
    assert SCRUBBER.scrub(text) == ScrubResult(text, {})


def test_names_given_to_the_constructor() -> None:
    text = "Alice Example asked Bob Jones."
    assert Scrubber()(text) == text
    assert Scrubber(names=["Bob Jones"])(text) == "Alice Example asked [NAME]."
    assert Scrubber(names=["  Bob   Jones "])("bob  jones") == "[NAME]"
    assert Scrubber(names=["Zoë O'Brien"])("zoë o'brien and O'Brien, not o'brien") == (
        "[NAME] and [NAME], not o'brien"
    )
    # Months and short parts are never matched alone; an ordinary word only as a name.
    scrubber = Scrubber(names=["May Li", "Grant"])
    assert (
        scrubber("May Li may grant it in May. Grant it, Li.") == "[NAME] may grant it in May. Grant it, Li."
    )
    assert scrubber("Thanks, Grant.") == "Thanks, [NAME]."
    # First and last name together, without the middle one.
    assert Scrubber(names=["Rose Anne Page"])("rose page wrote to Anne") == "[NAME] wrote to [NAME]"


# Askers whose every name part is an ordinary English word.
ORDINARY_NAMES = (
    "Grant Holiday", "Will May", "Mark Long", "Rose Page", "Bill Young", "Amber Hunt", "Grace Bell",
    "Frank Price", "Holly Green", "Ray Power", "Dean Hall", "Jack Major", "Faith Law", "Summer Field",
)  # fmt: skip


def test_ordinary_words_in_names_are_in_the_word_list() -> None:
    for part in {p.lower() for name in ORDINARY_NAMES for p in name.split()}:
        assert part in _NAMELIKE_WORDS, part
    assert all(w.isalpha() and w == w.lower() for w in _NAMELIKE_WORDS) and len(_NAMELIKE_WORDS) > 200


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*")), ids=lambda p: p.name)
def test_askers_named_like_words_leave_policies_alone(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert Scrubber(names=ORDINARY_NAMES).scrub(text) == ScrubResult(text, {})


def test_many_names_stay_fast() -> None:
    names = [f"Person{a}{b} Surname{b}{a}" for a, b in itertools.product("ABCDEFGHIJ", repeat=2)] * 20
    scrubber = Scrubber(names=names)
    assert scrubber("PersonCD SurnameDC and SurnameJJ asked") == "[NAME] and [NAME] asked"


def test_extra_patterns() -> None:
    scrubber = Scrubber(
        extra_patterns={"ticket": r"\bINC\d{7}\b", "project": r"project (?P<value>[A-Z]{3}-\d+)"}
    )
    result = scrubber.scrub("INC0012345 is about project ABC-42 and INC0012346")
    assert result.text == "[TICKET] is about project [PROJECT] and [TICKET]"
    assert result.counts == {"ticket": 2, "project": 1}
    assert scrubber(result.text) == result.text
    with pytest.raises(ValueError, match="kind"):
        Scrubber(extra_patterns={"Bad Kind": "x"})


def test_private_use_characters_cannot_forge_placeholders() -> None:
    assert SCRUBBER("a \ue000 b") == "a \ufffd b"


@pytest.mark.parametrize(
    "text",
    [
        "1" * 20_000,
        ("+1" + "2" * 60 + " ") * 200,
        ("a" * 200 + "@") * 200,
        "x@" + "a" * 50_000,
        "1." * 20_000,
        "Ab1+" * 20_000 + "===",
        "12 " * 10_000,
        "0-" * 20_000,
        "ab12:" * 10_000,
        "Alice " * 20_000,
        "password_" * 10_000,
        "-----BEGIN RSA PRIVATE KEY-----\n" + "a" * 50_000,
    ],
    ids=lambda text: repr(text[:12]),
)
def test_pathological_inputs_stay_linear(text: str) -> None:
    # A hang guard, not a speed target: each takes milliseconds, while catastrophic
    # backtracking on 40,000 characters would take hours, so even a loaded machine cannot
    # come near the bound.
    start = time.perf_counter()
    SCRUBBER(text)
    assert time.perf_counter() - start < 60


def test_version_is_a_string() -> None:
    assert isinstance(SCRUBBER_VERSION, str) and SCRUBBER_VERSION


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*")), ids=lambda p: p.name)
def test_sample_policies_pass_unchanged(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert SCRUBBER.scrub(text) == ScrubResult(text, {})


def _texts_of_500_chars(sentences: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts: list[str] = []
        while sum(map(len, parts)) < 500:
            parts.append(rng.choice(sentences))
        texts.append(" ".join(parts)[:500])
    return texts


def test_ten_thousand_mixed_texts_scrub_idempotently() -> None:
    """10,000 typical 500-character texts: three in four sentences of policy text, one in
    four from the corpus above (dense with personal data and secrets, so most texts need
    a second round). Each comes out stable: scrubbing the result again changes nothing.
    (Speed is bench/export_bench.py's to measure, not a test's.)"""
    policy = [
        line
        for path in sorted(POLICIES.glob("*"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if len(line) > 20
    ]
    chat = [case[1] for case in CORPUS]
    texts = _texts_of_500_chars(policy * 3 + chat * (len(policy) // len(chat)), 10_000, seed=11)
    scrubber = Scrubber(names=[*NAMES, *(f"Staff{i} Member{i}" for i in range(200))])
    unstable = [t for t in texts if scrubber.scrub(once := scrubber.scrub(t).text).text != once]
    assert not unstable, unstable[:3]


# An address left whole; "[SECRET]@host" is a scrubbed credential, not one.
_EMAIL_LEFT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")


def test_texts_made_only_of_corpus_cases_keep_no_email() -> None:
    """Texts made only of corpus cases, every one full of things to scrub: no email address
    survives, and a second pass changes nothing."""
    texts = _texts_of_500_chars([case[1] for case in CORPUS], 10_000, seed=12)
    for text in texts:
        once = SCRUBBER.scrub(text).text
        assert not _EMAIL_LEFT.search(once), once
        assert SCRUBBER.scrub(once).text == once
