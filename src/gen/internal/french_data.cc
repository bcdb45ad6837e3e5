#include "gen/internal/french_data.h"

namespace coffre::gen::internal {
namespace {

// Given names common in France across the generations alive today (born
// 1930..2008): the older ones (Germaine, Marcel) sit beside the recent ones
// (Jade, Maël), with the accents and compound forms people really carry.
constexpr std::string_view kFemaleFirstNames[] = {
    "Marie", "Jeanne", "Françoise", "Monique", "Catherine", "Nathalie",
    "Isabelle", "Sylvie", "Martine", "Christine", "Nicole", "Sophie",
    "Valérie", "Sandrine", "Véronique", "Stéphanie", "Céline", "Patricia",
    "Brigitte", "Chantal", "Christiane", "Anne", "Émilie", "Julie",
    "Aurélie", "Camille", "Laura", "Léa", "Manon", "Chloé",
    "Emma", "Inès", "Jade", "Louise", "Alice", "Lina",
    "Rose", "Anna", "Ambre", "Mila", "Zoé", "Juliette",
    "Lou", "Léna", "Agathe", "Margaux", "Clémence", "Mathilde",
    "Pauline", "Charlotte", "Lucie", "Sarah", "Marine", "Élodie",
    "Amélie", "Hélène", "Élise", "Éléonore", "Gaëlle", "Maëlle",
    "Maëva", "Noémie", "Océane", "Anaïs", "Laëtitia", "Joëlle",
    "Danièle", "Michèle", "Geneviève", "Thérèse", "Josiane", "Jacqueline",
    "Simone", "Yvette", "Denise", "Odette", "Colette", "Suzanne",
    "Paulette", "Madeleine", "Germaine", "Marcelle", "Lucienne", "Andrée",
    "Renée", "Ginette", "Micheline", "Annie", "Évelyne", "Béatrice",
    "Corinne", "Florence", "Laurence", "Pascale", "Dominique", "Agnès",
    "Claire", "Caroline", "Virginie", "Karine", "Delphine", "Audrey",
    "Émeline", "Mélanie", "Vanessa", "Jennifer", "Jessica", "Elsa",
    "Margot", "Capucine", "Apolline", "Victoire", "Héloïse", "Romane",
    "Clara", "Eva", "Nina", "Lola", "Adèle", "Iris",
    "Rosalie", "Salomé", "Solène", "Cécile", "Bérénice", "Ophélie",
    "Gwenaëlle", "Nolwenn", "Soizic", "Yasmine", "Fatima", "Aïcha",
    "Myriam", "Leïla", "Nadia", "Sonia", "Mireille", "Raymonde",
    "Ghislaine", "Josette", "Huguette", "Marie-Claire", "Marie-Christine",
    "Marie-Thérèse", "Anne-Marie", "Anne-Sophie", "Marie-Hélène",
    "Marie-Laure", "Marie-Pierre", "Marie-Noëlle", "Marie-Ange", "Maïwenn",
    "Sylviane", "Nadège", "Gisèle", "Lætitia", "Chloë", "Noëlie",
};

constexpr std::string_view kMaleFirstNames[] = {
    "Jean", "Pierre", "Michel", "André", "Philippe", "René",
    "Louis", "Alain", "Jacques", "Bernard", "Marcel", "Daniel",
    "Roger", "Robert", "Paul", "Claude", "Christian", "Henri",
    "Georges", "Nicolas", "François", "Patrick", "Gérard", "Christophe",
    "Joseph", "Julien", "Éric", "Frédéric", "Laurent", "Stéphane",
    "David", "Sébastien", "Olivier", "Thierry", "Pascal", "Vincent",
    "Guillaume", "Thomas", "Antoine", "Maxime", "Alexandre", "Romain",
    "Kévin", "Jérôme", "Jérémy", "Mickaël", "Cédric", "Fabrice",
    "Franck", "Hervé", "Didier", "Yves", "Gilles", "Serge",
    "Bruno", "Benoît", "Lucas", "Hugo", "Gabriel", "Léo",
    "Raphaël", "Arthur", "Jules", "Adam", "Maël", "Noah",
    "Nathan", "Ethan", "Sacha", "Tom", "Théo", "Mathis",
    "Enzo", "Timéo", "Baptiste", "Clément", "Quentin", "Florian",
    "Valentin", "Adrien", "Damien", "Loïc", "Gaël", "Yannick",
    "Erwan", "Gwenaël", "Ronan", "Killian", "Noël", "Joël",
    "Aurélien", "Mathieu", "Matthieu", "Rémi", "Rémy", "Jérémie",
    "Anthony", "Grégory", "Ludovic", "Arnaud", "Régis", "Gaëtan",
    "Bastien", "Corentin", "Dylan", "Samuel", "Benjamin", "Simon",
    "Martin", "Victor", "Émile", "Achille", "Côme", "Augustin",
    "Marius", "Gaspard", "Lucien", "Émilien", "Félix", "Maximilien",
    "Anatole", "Octave", "Aymeric", "Tristan", "Jean-Pierre", "Jean-Claude",
    "Jean-Marc", "Jean-Luc", "Jean-François", "Jean-Michel", "Jean-Louis",
    "Jean-Paul", "Jean-Jacques", "Jean-Baptiste", "Pierre-Louis",
    "Paul-Henri", "Marc-Antoine", "Jean-Philippe", "Jean-Yves",
    "Jean-Christophe", "Jean-Marie", "Mohamed", "Karim", "Mehdi", "Rachid",
    "Youssef", "Sofiane", "Bilal", "Amine", "Ibrahim", "Moussa",
    "Marc", "Luc", "Guy", "Albert", "Raymond", "Fernand",
    "Maurice", "Gilbert", "Francis", "Roland", "Hugues", "Ghislain",
};

constexpr std::string_view kLastNames[] = {
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard",
    "Durand", "Dubois", "Moreau", "Laurent", "Simon", "Michel",
    "Lefèvre", "Lefebvre", "Leroy", "Roux", "David", "Bertrand",
    "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert",
    "Fontaine", "Rousseau", "Vincent", "Muller", "Faure", "André",
    "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier",
    "François", "Legrand", "Gauthier", "Garcia", "Perrin", "Robin",
    "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu",
    "Gautier", "Masson", "Marchand", "Duval", "Denis", "Dumont",
    "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier",
    "Brun", "Blanchard", "Giraud", "Joly", "Rivière", "Lucas",
    "Brunet", "Gaillard", "Barbier", "Arnaud", "Martinez", "Gérard",
    "Roche", "Renard", "Schmitt", "Roy", "Leroux", "Colin",
    "Vidal", "Caron", "Picard", "Roger", "Fabre", "Aubert",
    "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier", "Philippe",
    "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc", "Payet",
    "Rolland", "Leclercq", "Guillaume", "Lecomte", "Lopez", "Jean",
    "Dupuy", "Guillot", "Hubert", "Berger", "Carpentier", "Sanchez",
    "Dupuis", "Moulin", "Louis", "Deschamps", "Huet", "Vasseur",
    "Perez", "Boucher", "Fleury", "Royer", "Klein", "Jacquet",
    "Adam", "Paris", "Poirier", "Marty", "Aubry", "Guyot",
    "Carré", "Charles", "Renault", "Charpentier", "Ménard", "Maillard",
    "Baron", "Bertin", "Bailly", "Hervé", "Schneider", "Fernandez",
    "Le Gall", "Collet", "Léger", "Bouvier", "Julien", "Prévost",
    "Millet", "Perrot", "Daniel", "Le Roux", "Cousin", "Germain",
    "Breton", "Besson", "Langlois", "Rémy", "Le Goff", "Pelletier",
    "Lévêque", "Perrier", "Leblanc", "Barré", "Lebrun", "Marchal",
    "Weber", "Mallet", "Hamon", "Boulanger", "Jacob", "Monnier",
    "Michaud", "Rodriguez", "Guichard", "Gillet", "Étienne", "Grondin",
    "Poulain", "Tessier", "Chevallier", "Collin", "Chauvin", "Da Silva",
    "Bouchet", "Gay", "Lemaître", "Bénard", "Maréchal", "Humbert",
    "Reynaud", "Antoine", "Hoarau", "Perret", "Barthélemy", "Cordier",
    "Pichon", "Lejeune", "Gilbert", "Lamy", "Delaunay", "Pasquier",
    "Carlier", "Laporte", "N'Diaye", "Diallo", "Traoré", "Diop",
    "Benali", "Haddad", "Mansouri", "Cherif", "Nguyen", "Tran",
    "Ferreira", "Pereira", "Dos Santos", "Rodrigues", "Fernandes", "Gomes",
    "Lopes", "Martins", "Le Bihan", "Le Guen", "Le Floch", "Kerbrat",
    "Le Corre", "Quéméner", "Tanguy", "Riou", "Jégou", "Cadiou",
    "D'Almeida", "De Oliveira", "Delmas", "Delattre", "Dumoulin", "Lefort",
    "Labbé", "Texier", "Besnard", "Gaudin", "Bigot", "Buisson",
    "Blondel", "Joubert", "Maurice", "Gros", "Vallée", "Navarro",
    "Ruiz", "Gonzalez", "Moreno", "Marin", "Chauvet", "Leduc",
    "Turpin", "Duhamel", "Pons", "Barre", "Lainé", "Guillou",
    "Descamps", "Dupré", "Thibault", "Petitjean", "Hamel", "Bourdon",
    "Bouvet", "Fouquet", "Camus", "Peltier", "Lacombe", "Rocher",
    "Devaux", "Raynaud", "Bouquet", "Ollivier", "Chevrier", "Courtois",
    "Jourdan", "Laurens", "Loiseau", "Maillot", "Vaillant", "Guilbert",
    "Grenier", "Bouchard", "Hébert", "Tournier", "Charrier", "Forestier",
    "Delorme", "Gosselin", "Brunel", "Favre", "Allard", "Lebon",
    "Parent", "Godard", "Baudry", "Raymond", "Leconte", "Guillon",
    "Hardy", "Cartier", "Rossi", "Colas", "Lebreton", "Thierry",
    "Sauvage", "Boutin", "Faivre", "D'Angelo", "Le Moal", "Hoareau",
};

constexpr std::string_view kStreetNames[] = {
    "des Lilas", "Victor Hugo", "de la République", "Jean Jaurès",
    "du Général de Gaulle", "Pasteur", "de la Gare", "des Écoles",
    "de l'Église", "de la Paix", "Gambetta", "Voltaire",
    "Jean Moulin", "de la Liberté", "du Moulin", "des Roses",
    "des Tilleuls", "du Château", "de la Mairie", "du Stade",
    "des Acacias", "Émile Zola", "Anatole France", "Carnot",
    "du Maréchal Foch", "du Maréchal Leclerc", "de Verdun", "Nationale",
    "Saint-Martin", "Saint-Jacques", "des Peupliers", "du Port",
    "de Bretagne", "de Paris", "des Jardins", "du Commerce",
    "de la Fontaine", "des Vignes", "du Puits", "Georges Clemenceau",
    "Louis Pasteur", "Paul Bert", "Jules Ferry", "Aristide Briand",
    "Pierre et Marie Curie", "de Lattre de Tassigny", "des Frères Lumière",
    "d'Alsace-Lorraine", "du 8 Mai 1945", "du 11 Novembre",
    "de l'Hôtel de Ville", "du Marché", "des Cerisiers", "des Chênes",
    "de la Forêt", "du Lavoir", "des Prés", "de l'Abbaye",
    "Sainte-Anne", "de la Croix", "des Mimosas", "Molière",
    "Racine", "Lamartine", "Condorcet", "Denfert-Rochereau",
    "de la Victoire", "Thiers", "Mozart", "des Capucins",
    "de la Poste", "des Hirondelles", "du Bois", "de la Source",
};

// Postal codes as La Poste assigns them: big cities span several codes
// (arrondissements, or steps of 100 for the city's districts).
constexpr City kCities[] = {
    {"Paris", 75001, 20, 1, 40},
    {"Marseille", 13001, 16, 1, 16},
    {"Lyon", 69001, 9, 1, 10},
    {"Toulouse", 31000, 6, 100, 9},
    {"Nice", 6000, 4, 100, 6},
    {"Nantes", 44000, 4, 100, 6},
    {"Montpellier", 34000, 1, 1, 5},
    {"Strasbourg", 67000, 3, 100, 5},
    {"Bordeaux", 33000, 4, 100, 5},
    {"Lille", 59000, 1, 1, 5},
    {"Rennes", 35000, 1, 1, 4},
    {"Reims", 51100, 1, 1, 3},
    {"Le Havre", 76600, 3, 10, 3},
    {"Saint-Étienne", 42000, 2, 100, 3},
    {"Toulon", 83000, 3, 100, 3},
    {"Grenoble", 38000, 2, 100, 3},
    {"Dijon", 21000, 1, 1, 3},
    {"Angers", 49000, 2, 100, 3},
    {"Nîmes", 30000, 2, 900, 3},
    {"Villeurbanne", 69100, 1, 1, 3},
    {"Clermont-Ferrand", 63000, 2, 100, 3},
    {"Le Mans", 72000, 2, 100, 3},
    {"Aix-en-Provence", 13090, 2, 10, 3},
    {"Brest", 29200, 1, 1, 2},
    {"Tours", 37000, 3, 100, 2},
    {"Amiens", 80000, 1, 1, 2},
    {"Limoges", 87000, 2, 100, 2},
    {"Annecy", 74000, 1, 1, 2},
    {"Perpignan", 66000, 2, 100, 2},
    {"Boulogne-Billancourt", 92100, 1, 1, 2},
    {"Metz", 57000, 1, 1, 2},
    {"Besançon", 25000, 1, 1, 2},
    {"Orléans", 45000, 2, 100, 2},
    {"Saint-Denis", 93200, 1, 1, 2},
    {"Argenteuil", 95100, 1, 1, 2},
    {"Rouen", 76000, 2, 100, 2},
    {"Mulhouse", 68100, 2, 100, 2},
    {"Montreuil", 93100, 1, 1, 2},
    {"Caen", 14000, 1, 1, 2},
    {"Nancy", 54000, 2, 100, 2},
    {"Roubaix", 59100, 1, 1, 2},
    {"Tourcoing", 59200, 1, 1, 2},
    {"Nanterre", 92000, 1, 1, 2},
    {"Vitry-sur-Seine", 94400, 1, 1, 2},
    {"Avignon", 84000, 1, 1, 2},
    {"Créteil", 94000, 1, 1, 2},
    {"Poitiers", 86000, 1, 1, 2},
    {"Pau", 64000, 1, 1, 1},
    {"La Rochelle", 17000, 1, 1, 1},
    {"Ajaccio", 20000, 2, 90, 1},
    {"Bastia", 20200, 2, 400, 1},
    {"Calais", 62100, 1, 1, 1},
    {"Cannes", 6400, 1, 1, 1},
    {"Antibes", 6600, 1, 1, 1},
    {"Colmar", 68000, 1, 1, 1},
    {"Quimper", 29000, 1, 1, 1},
    {"Lorient", 56100, 1, 1, 1},
    {"Vannes", 56000, 1, 1, 1},
    {"Saint-Malo", 35400, 1, 1, 1},
    {"Bayonne", 64100, 1, 1, 1},
    {"Chambéry", 73000, 1, 1, 1},
    {"Troyes", 10000, 1, 1, 1},
    {"Valence", 26000, 1, 1, 1},
    {"Niort", 79000, 1, 1, 1},
    {"Bourges", 18000, 1, 1, 1},
    {"Chartres", 28000, 1, 1, 1},
    {"Laval", 53000, 1, 1, 1},
    {"Saint-Nazaire", 44600, 1, 1, 1},
    {"Béziers", 34500, 1, 1, 1},
    {"Arles", 13200, 1, 1, 1},
    {"Versailles", 78000, 1, 1, 1},
    {"Bourg-en-Bresse", 1000, 1, 1, 1},
    {"Angoulême", 16000, 1, 1, 1},
    {"Saint-Brieuc", 22000, 1, 1, 1},
    {"Fort-de-France", 97200, 1, 1, 1},
    {"Pointe-à-Pitre", 97110, 1, 1, 1},
    {"Cayenne", 97300, 1, 1, 1},
    {"Saint-Pierre", 97410, 1, 1, 1},
};

constexpr uint32_t kBankCodes[] = {
    30004,  // BNP Paribas
    30003,  // Société Générale
    30002,  // LCL
    20041,  // La Banque Postale
    30066,  // CIC
    10278,  // Crédit Mutuel
    10107,  // BRED
    18206,  // Crédit Agricole Paris
    11315,  // Caisse d'Épargne
    17515,  // Caisse d'Épargne Île-de-France
    16958,  // Qonto
    30076,  // Crédit du Nord
    15589,  // Crédit Mutuel de Bretagne
    13106,  // Crédit Agricole Sud Méditerranée
};

// Countries of birth most frequent among people born abroad living in
// France, by INSEE code (COG "pays").
constexpr uint32_t kBirthCountryCodes[] = {
    350,  // Maroc
    352,  // Algérie
    351,  // Tunisie
    139,  // Portugal
    127,  // Italie
    134,  // Espagne
    109,  // Allemagne
    131,  // Belgique
    140,  // Suisse
    132,  // Royaume-Uni
    208,  // Turquie
    341,  // Sénégal
    326,  // Côte d'Ivoire
    322,  // Cameroun
    122,  // Pologne
    216,  // Chine
    401,  // Canada
    404,  // États-Unis
};

}  // namespace

std::span<const std::string_view> FemaleFirstNames() { return kFemaleFirstNames; }
std::span<const std::string_view> MaleFirstNames() { return kMaleFirstNames; }
std::span<const std::string_view> LastNames() { return kLastNames; }
std::span<const std::string_view> StreetNames() { return kStreetNames; }
std::span<const City> Cities() { return kCities; }
std::span<const uint32_t> BankCodes() { return kBankCodes; }
std::span<const uint32_t> BirthCountryCodes() { return kBirthCountryCodes; }

}  // namespace coffre::gen::internal
