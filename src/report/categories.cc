#include "report/categories.h"

namespace coffre::report {

Category CategoryOf(schema::FieldType type) {
  using schema::FieldType;
  switch (type) {
    case FieldType::kName:
    case FieldType::kDate:
    case FieldType::kEnum:
      return Category::kIdentity;
    case FieldType::kEmail:
    case FieldType::kPhone:
    case FieldType::kPostalAddress:
      return Category::kContact;
    case FieldType::kNir:
      return Category::kNationalId;
    case FieldType::kIban:
    case FieldType::kPan:
      return Category::kFinancial;
    case FieldType::kText:
    case FieldType::kInteger:
    case FieldType::kBoolean:
      return Category::kOther;
  }
  return Category::kOther;
}

std::string_view CategoryName(Category c) {
  switch (c) {
    case Category::kIdentity:
      return "identity";
    case Category::kContact:
      return "contact";
    case Category::kNationalId:
      return "national_id";
    case Category::kFinancial:
      return "financial";
    case Category::kOther:
      return "other";
  }
  return "other";
}

std::string_view CategoryTitle(Category c) {
  switch (c) {
    case Category::kIdentity:
      return "identity (names, sex, dates of birth)";
    case Category::kContact:
      return "contact details (email addresses, phone numbers, postal addresses)";
    case Category::kNationalId:
      return "national identification numbers (social security number, NIR)";
    case Category::kFinancial:
      return "financial data (bank account numbers, payment card numbers)";
    case Category::kOther:
      return "other data held about the person";
  }
  return "other data";
}

std::string_view CategoryConsequences(Category c) {
  switch (c) {
    case Category::kIdentity:
      return "combined with other data, impersonation and identity theft; more convincing "
             "targeted fraud (the fraudster can name the person and their date of birth)";
    case Category::kContact:
      return "phishing, spam and scam calls or letters aimed at the person, social engineering "
             "that quotes their details, unwanted contact or harassment";
    case Category::kNationalId:
      return "identity fraud with administrations, employers, insurers and banks; the number "
             "is permanent and cannot be changed, and it reveals sex, year and place of birth";
    case Category::kFinancial:
      return "fraudulent direct debits or payments (IBAN), card fraud (card numbers), financial "
             "loss, and fraud attempts that quote the account to look genuine";
    case Category::kOther:
      return "depends on the field; assess each listed field";
  }
  return "";
}

}  // namespace coffre::report
