#include "report/drafts.h"

#include <vector>

#include "common/clock.h"
#include "common/time_text.h"

namespace coffre::report::internal {
namespace {

bool Fr(const RenderOptions& o) { return o.lang == Lang::kFr; }

// "1,234,567"; in French "1 234 567".
std::string Num(bool fr, uint64_t n) {
  std::string s = Count(n);
  if (fr) {
    for (char& ch : s) {
      if (ch == ',') ch = ' ';
    }
  }
  return s;
}

std::string From(const BreachReport& r) {
  return FormatTimeBound(r.query.from_ms, TimeBound::kFrom);
}
std::string To(const BreachReport& r) { return FormatTimeBound(r.query.to_ms, TimeBound::kTo); }
std::string Generated(const BreachReport& r) { return FormatRfc3339(r.generated_ms / 1000); }

bool Exposed(const BreachReport& r, Category c) {
  return r.categories[static_cast<size_t>(c)].people > 0;
}
bool InClear(const BreachReport& r, Category c) {
  return r.categories[static_cast<size_t>(c)].people_clear > 0;
}

std::string Account(const BreachReport& r, bool fr) {
  std::string s;
  if (r.query.principal) s += (fr ? "le compte `" : "the account `") + *r.query.principal + "`";
  if (r.query.user) {
    if (fr) {
      s += r.query.principal ? " agissant au nom de l'utilisateur `"
                             : "les services agissant au nom de l'utilisateur `";
    } else {
      s += r.query.principal ? " acting on behalf of the user `"
                             : "services acting on behalf of the user `";
    }
    s += *r.query.user + "`";
  }
  return s;
}

std::string_view Title(Category c, bool fr) {
  if (!fr) return CategoryTitle(c);
  switch (c) {
    case Category::kIdentity:
      return "identité (nom, sexe, date de naissance)";
    case Category::kContact:
      return "coordonnées (adresses électroniques, numéros de téléphone, adresses postales)";
    case Category::kNationalId:
      return "numéro d'identification national (numéro de sécurité sociale, NIR)";
    case Category::kFinancial:
      return "données financières (numéros de compte bancaire, numéros de carte de paiement)";
    case Category::kOther:
      return "autres données détenues sur la personne";
  }
  return "autres données";
}

std::string_view Consequences(Category c, bool fr) {
  if (!fr) return CategoryConsequences(c);
  switch (c) {
    case Category::kIdentity:
      return "combinées à d'autres données, usurpation d'identité ; fraude ciblée plus crédible "
             "(le fraudeur "
             "peut nommer la personne et citer sa date de naissance)";
    case Category::kContact:
      return "hameçonnage, courriels indésirables, appels ou courriers frauduleux visant la "
             "personne, "
             "ingénierie sociale citant ses coordonnées, sollicitations non désirées ou "
             "harcèlement";
    case Category::kNationalId:
      return "fraude à l'identité auprès des administrations, des employeurs, des assureurs et des "
             "banques ; "
             "le numéro est permanent, ne peut pas être changé et révèle le sexe, l'année et le "
             "lieu de naissance";
    case Category::kFinancial:
      return "prélèvements ou paiements frauduleux (IBAN), fraude à la carte (numéros de carte), "
             "pertes "
             "financières, tentatives d'escroquerie citant le compte pour paraître authentiques";
    case Category::kOther:
      return "dépend du champ : évaluer chaque champ listé";
  }
  return "";
}

std::string_view ShortNameFr(Category c) {
  switch (c) {
    case Category::kIdentity:
      return "identité";
    case Category::kContact:
      return "coordonnées";
    case Category::kNationalId:
      return "numéro d'identification national";
    case Category::kFinancial:
      return "données financières";
    case Category::kOther:
      return "autres données";
  }
  return "autres données";
}

// The likely consequences, told to the person (art. 34(2), in clear and
// plain language). "Other" fields need an assessment, not a sentence.
std::string ForThePerson(Category c, bool fr) {
  switch (c) {
    case Category::kIdentity:
      return fr ? "Une personne malveillante pourrait se servir de votre nom et de votre date de "
                  "naissance pour "
                  "se faire passer pour vous, ou pour rendre une tentative d'escroquerie plus "
                  "crédible."
                : "Someone could use your name and date of birth to pass themselves off as you, or "
                  "to make a "
                  "scam more convincing.";
    case Category::kContact:
      return fr ? "Vous pourriez recevoir des courriels, SMS, appels ou courriers frauduleux "
                  "(hameçonnage) qui "
                  "citent vos coordonnées pour paraître authentiques."
                : "You may receive fraudulent emails, text messages, calls or letters (phishing) "
                  "that quote your "
                  "details to look genuine.";
    case Category::kNationalId:
      return fr ? "Votre numéro de sécurité sociale pourrait servir à usurper votre identité "
                  "auprès "
                  "d'administrations, d'employeurs, d'assureurs ou de banques ; ce numéro ne peut "
                  "pas être changé."
                : "Your social security number could be used to impersonate you with "
                  "administrations, employers, "
                  "insurers or banks; this number cannot be changed.";
    case Category::kFinancial:
      return fr ? "Vos coordonnées bancaires pourraient servir à des prélèvements ou à des "
                  "paiements frauduleux."
                : "Your bank details could be used for fraudulent direct debits or payments.";
    case Category::kOther:
      break;
  }
  return "";
}

// What a person can do, for the art. 34 notice.
std::vector<std::string> Advice(const BreachReport& r, bool fr) {
  std::vector<std::string> out;
  if (Exposed(r, Category::kContact)) {
    out.emplace_back(
        fr ? "Méfiez-vous des courriels, SMS, appels ou courriers qui citent vos coordonnées ou se "
             "réclament de nous : nous ne vous demanderons jamais votre mot de passe ni vos "
             "coordonnées bancaires."
           : "Be wary of emails, text messages, calls or letters that quote your details or claim "
             "to "
             "come from us: we will never ask you for your password or your bank details.");
  }
  if (Exposed(r, Category::kFinancial)) {
    out.emplace_back(
        fr ? "Surveillez vos relevés de compte et signalez sans attendre à votre banque toute "
             "opération ou tout prélèvement que vous ne reconnaissez pas."
           : "Check your account statements and report at once to your bank any payment or direct "
             "debit you do not recognise.");
  }
  if (Exposed(r, Category::kNationalId) || Exposed(r, Category::kIdentity)) {
    out.emplace_back(
        fr ? "Soyez attentif à toute démarche faite en votre nom (ouverture de compte, crédit, "
             "abonnement) ; en cas d'usurpation d'identité, déposez plainte."
           : "Watch for anything done in your name (an account opened, a loan, a subscription); if "
             "your identity is misused, report it to the police.");
  }
  return out;
}

void NoOneExposed(const BreachReport& r, const RenderOptions& o, std::string& md) {
  if (Fr(o)) {
    md += "## Notification (RGPD, art. 33 et 34)\n\n";
    md += "Aucune donnée personnelle n'a été transmise à " + Account(r, true) +
          " sur cette période : ce rapport ne donne lieu à aucun projet de notification. Consignez "
          "néanmoins l'incident et cette évaluation dans le registre des violations (art. 33, "
          "paragraphe 5).\n";
  } else {
    md += "## Notification (GDPR art. 33 and 34)\n\n";
    md += "No personal data was returned to " + Account(r, false) +
          " in this window: there is no notification to draft. Record the incident and this "
          "assessment in the register of breaches all the same (art. 33(5)).\n";
  }
}

void Article33(const BreachReport& r, const RenderOptions& o, std::string& md) {
  const bool fr = Fr(o);
  const uint64_t people = r.subjects.size();
  if (fr) {
    md += "## Projet de notification à l'autorité de contrôle (RGPD, art. 33)\n\n";
    md +=
        "> **PROJET établi à partir du journal d'audit. Relisez-le et complétez chaque mention "
        "[À COMPLÉTER] avant l'envoi.** La notification est faite dans les 72 heures après en "
        "avoir pris "
        "connaissance (art. 33, paragraphe 1) ; en France, auprès de la CNIL, par son téléservice "
        "de "
        "notification. Les informations qui ne sont pas encore connues peuvent être communiquées "
        "de "
        "manière échelonnée (art. 33, paragraphe 4).\n\n";
    md += "**a) Nature de la violation de données à caractère personnel.** Entre le " + From(r) +
          " et le " + To(r) + " (UTC), " + Account(r, true) +
          " a reçu des données personnelles du coffre au moyen de " + Num(fr, r.entries_exposing) +
          " requêtes (" + Join(r.actions, ", ") +
          "). Si les identifiants de ce compte ont été utilisés par une personne qui n'y était pas "
          "autorisée, "
          "il s'agit "
          "d'une violation de la confidentialité. [À COMPLÉTER : comment la violation a été "
          "découverte, et "
          "comment les identifiants ont été obtenus.]\n\n";
    md +=
        "- Catégories de personnes concernées : les personnes dont les fiches sont conservées "
        "dans " +
        std::string(r.collections.size() == 1 ? "la collection " : "les collections ") + "`" +
        Join(r.collections, "`, `") +
        "`. [À COMPLÉTER : qui sont-elles, par exemple des clients, des "
        "patients, des salariés.]\n";
    md += "- Nombre approximatif de personnes concernées : " + Num(fr, people) +
          " (nombre exact, tiré du journal d'audit).\n";
    md += "- Catégories de données à caractère personnel concernées :";
  } else {
    md += "## Draft notification to the supervisory authority (GDPR art. 33(3))\n\n";
    md +=
        "> **DRAFT generated from the audit log. Review and complete every part marked "
        "[TO BE COMPLETED] before sending.** Notify within 72 hours of becoming aware of the "
        "breach (art. 33(1)); what is not yet known may be provided in phases (art. 33(4)).\n\n";
    md += "**(a) Nature of the personal data breach.** Between " + From(r) + " and " + To(r) +
          " (UTC), " + Account(r, false) + " received personal data from the vault through " +
          Num(fr, r.entries_exposing) + " requests (" + Join(r.actions, ", ") +
          "). If these credentials were used by someone not entitled to them, this is a breach of "
          "confidentiality. [TO BE COMPLETED: how the breach was discovered, and how the "
          "credentials were "
          "obtained.]\n\n";
    md += "- Categories of data subjects: the people whose records are kept in " +
          std::string(r.collections.size() == 1 ? "the collection " : "the collections ") + "`" +
          Join(r.collections, "`, `") +
          "`. [TO BE COMPLETED: who they are, e.g. customers, patients, employees.]\n";
    md += "- Approximate number of data subjects concerned: " + Num(fr, people) +
          " (the exact count, from the audit log).\n";
    md += "- Categories of personal data concerned:";
  }
  bool any = false;
  for (Category c : kAllCategories) {
    const CategoryCount& n = r.categories[static_cast<size_t>(c)];
    if (n.people == 0) continue;
    any = true;
    md += "\n  - " + std::string(Title(c, fr)) + (fr ? " : " : ": ") + Num(fr, n.people) +
          (fr ? (n.people == 1 ? " personne, dont " : " personnes, dont ")
              : (n.people == 1 ? " person, " : " people, ")) +
          Num(fr, n.people_clear) + (fr ? " en clair (champs : " : " of them in clear (fields: ") +
          Join(n.fields, ", ") + ")";
  }
  if (fr) {
    md += any ? "\n"
              : " aucune au-delà du fait que les personnes figurent dans le coffre (identifiants "
                "seuls).\n";
    md += "- Nombre approximatif d'enregistrements de données à caractère personnel concernés : " +
          Num(fr, r.records) + " (un enregistrement par personne et par collection).\n";
    md +=
        "- Une valeur masquée ne montre qu'une partie de la donnée (par exemple les quatre "
        "derniers caractères "
        "d'un IBAN, ou la première lettre d'une adresse électronique) ; les personnes qui n'ont "
        "reçu que des "
        "valeurs masquées d'une catégorie y sont comptées, mais pas « en clair ».\n";
  } else {
    md += any ? "\n" : " none beyond the fact that the people are in the vault (ids only).\n";
    md += "- Approximate number of personal data records concerned: " + Num(fr, r.records) +
          " (one record per person and collection).\n";
    md +=
        "- Masked values show only part of a value (for example the last four characters of an "
        "IBAN, or the first letter of an email address); people who received only masked values "
        "of a category are counted in it but not \"in clear\".\n";
  }
  if (r.canaries > 0) {
    md += fr ? "- Le compte a aussi consulté " + Num(fr, r.canaries) +
                   " fiche(s) leurre (« canaris ») : des personnes fictives placées dans le "
                   "coffre, qui ne sont pas comptées ci-dessus. Leur consultation indique un "
                   "parcours systématique du coffre.\n"
             : "- The account also read " + Num(fr, r.canaries) +
                   " canary record(s): fictitious people planted in the vault, not counted above. "
                   "Reading "
                   "them is a sign of a systematic sweep of the vault.\n";
  }
  md += "\n";
  md += fr ? "**b) Point de contact.** " : "**(b) Contact point.** ";
  if (o.contact.empty()) {
    md += fr ? "**[À COMPLÉTER : nom et coordonnées du délégué à la protection des données ou d'un "
               "autre point "
               "de contact]**"
             : "**[TO BE COMPLETED: name and contact details of the data protection officer or "
               "other contact "
               "point]**";
  } else {
    md += o.contact;
  }
  md += "\n\n";
  md += fr ? "**c) Conséquences probables.**" : "**(c) Likely consequences.**";
  any = false;
  for (Category c : kAllCategories) {
    if (!Exposed(r, c)) continue;
    any = true;
    md += "\n- " + std::string(fr ? ShortNameFr(c) : CategoryName(c)) + (fr ? " : " : ": ") +
          std::string(Consequences(c, fr)) + ".";
  }
  md += any ? "\n"
            : (fr ? " Aucune identifiée : aucun champ de données personnelles n'a été transmis.\n"
                  : " None identified: no personal data field was returned.\n");
  md += "\n";
  if (fr) {
    md += "**d) Mesures prises ou envisagées.**\n";
    md +=
        "- Prises : le journal d'audit a été vérifié sur la période et les personnes concernées "
        "ont été "
        "identifiées avec exactitude (ce rapport, établi le " +
        Generated(r) +
        "). [À COMPLÉTER : date de la suspension du compte et de la révocation de ses "
        "identifiants.]\n";
    md +=
        "- Envisagées : suspendre le compte (`coffre principal suspend`) et remplacer ses "
        "identifiants si ce "
        "n'est pas déjà fait ; revoir les limites par personne du rôle ; informer les personnes "
        "concernées dans "
        "les meilleurs délais lorsque la violation est susceptible d'engendrer un risque élevé "
        "pour leurs droits "
        "et libertés (art. 34) : `coffre breach-report --notify-file` produit leurs coordonnées, "
        "chiffrées, "
        "une fois l'accord d'un second administrateur obtenu.";
    if (InClear(r, Category::kFinancial)) {
      md +=
          " Prévenir les banques et les émetteurs de cartes concernés, et surveiller les "
          "prélèvements frauduleux.";
    }
    if (InClear(r, Category::kNationalId)) {
      md +=
          " Conseiller aux personnes concernées d'être vigilantes face à l'usurpation d'identité.";
    }
    md +=
        "\n- Consigner la violation, ses effets et les mesures prises dans le registre des "
        "violations "
        "(art. 33, paragraphe 5).\n\n";
  } else {
    md += "**(d) Measures taken or proposed.**\n";
    md +=
        "- Taken: the audit log was verified over the window and the people concerned were "
        "identified exactly "
        "(this report, generated " +
        Generated(r) +
        "). [TO BE COMPLETED: when the account was suspended and "
        "its credentials revoked.]\n";
    md +=
        "- Proposed: suspend the account (`coffre principal suspend`) and replace its credentials "
        "if not "
        "done; review the role's per-person limits; tell the people concerned without undue delay "
        "when the "
        "breach is likely to result in a high risk to them (art. 34): `coffre breach-report "
        "--notify-file` "
        "produces their contact details, encrypted, once a second administrator approves.";
    if (InClear(r, Category::kFinancial)) {
      md += " Alert the banks and card issuers concerned, and watch for fraudulent debits.";
    }
    if (InClear(r, Category::kNationalId))
      md += " Advise the people concerned to watch for identity fraud.";
    md +=
        "\n- Record the breach, its effects and the measures taken in the register of breaches "
        "(art. 33(5)).\n\n";
  }
}

void Article34(const BreachReport& r, const RenderOptions& o, std::string& md) {
  const bool fr = Fr(o);
  std::vector<std::string> titles, consequences;
  for (Category c : kAllCategories) {
    if (!Exposed(r, c)) continue;
    titles.emplace_back(Title(c, fr));
    if (c != Category::kOther) consequences.emplace_back(ForThePerson(c, fr));
  }
  const std::vector<std::string> advice = Advice(r, fr);
  if (fr) {
    md += "## Projet d'information des personnes concernées (RGPD, art. 34)\n\n";
    md +=
        "> **PROJET : relisez-le et complétez chaque mention [À COMPLÉTER].** L'article 34 impose "
        "d'informer "
        "les personnes concernées dans les meilleurs délais lorsque la violation est susceptible "
        "d'engendrer un "
        "risque élevé pour leurs droits et libertés, en des termes clairs et simples. Cette "
        "information n'est "
        "pas exigée (art. 34, paragraphe 3) si les données étaient incompréhensibles pour toute "
        "personne non "
        "autorisée (chiffrées, par exemple), si des mesures ultérieures rendent ce risque élevé "
        "improbable, ou si "
        "elle exigerait des efforts disproportionnés (une communication publique la remplace "
        "alors). Envoyez-la aux coordonnées figurant dans la liste de l'article 34 "
        "(`--notify-file`).\n\n";
    md += "**Objet : incident de sécurité concernant vos données personnelles**\n\n";
    md += "Madame, Monsieur,\n\n";
    md +=
        "Nous vous informons d'un incident de sécurité touchant des données personnelles qui vous "
        "concernent, détenues par [À COMPLÉTER : nom de l'organisme].\n\n";
    md += "**Ce qui s'est passé.** Entre le " + From(r) + " et le " + To(r) +
          " (heure UTC), un compte d'accès à notre système d'information a été utilisé pour "
          "consulter des "
          "données personnelles, dont les vôtres. [À COMPLÉTER : les circonstances, en termes "
          "simples.]\n\n";
    md += "**Les données concernées.** Selon les personnes : " + Join(titles, " ; ") +
          ". [À COMPLÉTER : pour chaque personne, la liste de l'article 34 indique les données qui "
          "la "
          "concernent.]\n\n";
    md += "**Les conséquences possibles.**";
    for (const std::string& c : consequences) md += "\n- " + c;
    md += consequences.empty() ? " [À COMPLÉTER.]\n\n" : "\n\n";
    md +=
        "**Les mesures que nous avons prises.** [À COMPLÉTER : suspension du compte, révocation de "
        "ses "
        "identifiants, autres mesures.]\n\n";
    if (!advice.empty()) {
      md += "**Ce que nous vous recommandons.**\n";
      for (const std::string& a : advice) md += "- " + a + "\n";
      md += "\n";
    }
    md += "**Pour toute question**, vous pouvez contacter " +
          (o.contact.empty()
               ? std::string("[À COMPLÉTER : le délégué à la protection des données et ses "
                             "coordonnées]")
               : o.contact) +
          ". Vous avez également le droit d'introduire une réclamation auprès de la Commission "
          "nationale de "
          "l'informatique et des libertés (CNIL), 3 place de Fontenoy, TSA 80715, 75334 Paris "
          "Cedex 07, "
          "www.cnil.fr.\n\n";
    md +=
        "Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos salutations "
        "distinguées.\n\n";
    md += "[À COMPLÉTER : nom et fonction du signataire]\n";
  } else {
    md += "## Draft notice to the people concerned (GDPR art. 34)\n\n";
    md +=
        "> **DRAFT: review it and complete every part marked [TO BE COMPLETED].** Article 34 "
        "requires telling "
        "the people concerned without undue delay, in clear and plain language, when the breach is "
        "likely to "
        "result in a high risk to their rights and freedoms. It is not required (art. 34(3)) if "
        "the data were "
        "unintelligible to anyone not authorised (encrypted, for example), if later measures make "
        "the high "
        "risk no longer likely, or if it would involve disproportionate effort (a public "
        "communication then "
        "takes its place). Send it through the contact channels of the art. 34 list "
        "(`--notify-file`).\n\n";
    md += "**Subject: security incident concerning your personal data**\n\n";
    md += "Dear Sir or Madam,\n\n";
    md +=
        "We are writing to tell you about a security incident concerning personal data about you "
        "held by "
        "[TO BE COMPLETED: name of the organisation].\n\n";
    md += "**What happened.** Between " + From(r) + " and " + To(r) +
          " (UTC), an access account to our information system was used to read personal data, "
          "including "
          "yours. [TO BE COMPLETED: the circumstances, in plain words.]\n\n";
    md += "**The data concerned.** Depending on the person: " + Join(titles, "; ") +
          ". [TO BE COMPLETED: for each person, the art. 34 list gives the data that concern "
          "them.]\n\n";
    md += "**The possible consequences.**";
    for (const std::string& c : consequences) md += "\n- " + c;
    md += consequences.empty() ? " [TO BE COMPLETED.]\n\n" : "\n\n";
    md +=
        "**What we have done.** [TO BE COMPLETED: account suspended, credentials revoked, other "
        "measures.]\n\n";
    if (!advice.empty()) {
      md += "**What we recommend.**\n";
      for (const std::string& a : advice) md += "- " + a + "\n";
      md += "\n";
    }
    md += "**For any question**, please contact " +
          (o.contact.empty()
               ? std::string("[TO BE COMPLETED: the data protection officer and their contact "
                             "details]")
               : o.contact) +
          ". You also have the right to lodge a complaint with the supervisory authority [TO BE "
          "COMPLETED: "
          "in France, the CNIL, www.cnil.fr].\n\n";
    md += "Yours faithfully,\n\n[TO BE COMPLETED: name and position of the signatory]\n";
  }
}

}  // namespace

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

std::string Count(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void AppendNotificationDrafts(const BreachReport& r, const RenderOptions& o, std::string& md) {
  if (r.subjects.empty()) {
    NoOneExposed(r, o, md);
    return;
  }
  Article33(r, o, md);
  Article34(r, o, md);
}

}  // namespace coffre::report::internal
